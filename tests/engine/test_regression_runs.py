"""Short regression runs end to end, and task mismatches refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prl.errors import ConfigError

#: a short regression run: diabetes, MLP, 30% uniform target replacement, no logger
SHORT = ["dataset=diabetes", "model=mlp", "noise=target-random", "noise.rate=0.3", "logger=none",
         "trainer.epochs=2", "trainer.batch_size=64", "trainer.progress=false", "trainer.checkpoint=false"]

from ..conftest import compose


@pytest.mark.parametrize("algorithm", ["standard", "prl-l", "co-prl-l", "spl", "co-teaching"])
def test_short_runs_on_diabetes(tmp_path, algorithm):
    from prl.engine import train

    # a 4-std shift of 30% of the targets: PRL-L and the small-loss rules should find them
    cfg = compose(*SHORT, "noise=target-shift", "noise.shift=4.0", f"algorithm={algorithm}",
                  *([] if algorithm == "standard" else ["algorithm.num_gradual=1"]))
    summary = train(cfg, run_dir=str(tmp_path))
    assert summary["status"] == "completed" and summary["task"] == "regression"
    assert np.isfinite(summary["test_mse_final"]) and np.isfinite(summary["test_mae_final"])
    assert 0 < summary["test_mse_final"] < 3 and summary["test_mse_best_epoch"] in (1, 2)
    assert summary["noise"]["type"] == "target-shift"
    assert summary["noise_rate_realised"] == pytest.approx(round(0.3 * 354) / 354)
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and {"test_mse", "test_mae", "label_precision"} <= set(lines[-1])
    nets = 2 if algorithm.startswith("co-") else 1
    assert summary["networks"] == nets and f"test_mse_net{nets}" in lines[-1]
    if algorithm != "standard":
        assert summary["epsilon"] == pytest.approx(0.3)
        assert lines[-1]["kept_fraction"] == pytest.approx(0.7, abs=0.02)
        # the dropped samples are mostly the shifted ones: precision well above the clean fraction (70%)
        assert lines[-1]["label_precision"] > 85


def test_bootstrapping_refuses_regression(tmp_path):
    from prl.engine import train

    with pytest.raises(ConfigError, match="does not support regression") as exc:
        train(compose(*SHORT, "algorithm=bootstrapping"), run_dir=str(tmp_path))
    assert exc.value.key == "algorithm.name"


def test_classification_noise_on_a_regression_dataset_is_refused(tmp_path):
    from prl.engine import train

    with pytest.raises(ConfigError, match="regression task; pick a regression noise") as exc:
        train(compose(*SHORT, "noise=symmetric20"), run_dir=str(tmp_path))
    assert exc.value.key == "noise"


def test_regression_noise_on_a_classification_dataset_is_refused(tmp_path):
    from prl.engine import train

    with pytest.raises(ConfigError, match="classification task; pick a classification noise"):
        train(compose("dataset=digits", "logger=none", "noise=target-random", "noise.rate=0.3"),
              run_dir=str(tmp_path))


def test_image_model_on_tabular_data_suggests_mlp(tmp_path):
    from prl.engine import train

    with pytest.raises(ConfigError, match="use model=mlp") as exc:
        train(compose(*[o for o in SHORT if o != "model=mlp"]), run_dir=str(tmp_path))
    assert exc.value.key.startswith("model")


@pytest.mark.parametrize("noise", ["target-clean", "target-random", "target-heavy-tailed", "target-linear",
                                   "target-shift"])
def test_every_regression_noise_config_builds_and_corrupts(noise):
    from prl.engine import setup

    rate = [] if noise == "target-clean" else ["noise.rate=0.25"]
    run = setup(compose(*[o for o in SHORT if not o.startswith("noise")], f"noise={noise}", *rate))
    expected = 0.0 if noise == "target-clean" else round(0.25 * 354) / 354
    assert run.noise_info["rate_realised"] == pytest.approx(expected)
    assert run.noise_info["type"] == noise
    assert float(1 - run.clean_mask.float().mean()) == pytest.approx(expected)
