"""End-to-end runs: the files a run writes, what they hold, and the runner's exit codes."""

import json

import numpy as np
import pytest
import torch
import yaml

from prl.data import digits
from prl.engine import setup, train

from ..conftest import TINY, run_cli

METRIC_KEYS = {"epoch", "epsilon", "train_loss", "test_accuracy", "test_accuracy_net1", "test_accuracy_net2",
               "label_precision", "label_recall", "label_precision_net1", "label_precision_net2", "seconds",
               "samples_per_s"}
SUMMARY_KEYS = {"status", "test_accuracy_final", "test_accuracy_best", "test_accuracy_last10_mean",
                "noise_rate_realised", "noise_rate_expected", "wall_time_s", "epsilon", "epsilon_source",
                "definitions", "choices", "seed", "algorithm", "dataset"}


def test_cli_run_writes_every_output(tmp_path):
    out = tmp_path / "run"
    res = run_cli([*TINY, "trainer.epochs=3", "algorithm=co-prl-l", "noise=pairflip45", f"hydra.run.dir={out}"])
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert METRIC_KEYS <= set(lines[0])
    assert [r["epsilon"] for r in lines] == pytest.approx([0.0, 0.05, 0.10])
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary) and summary["status"] == "completed"
    assert summary["test_accuracy_final"] == lines[-1]["test_accuracy"]
    assert summary["test_accuracy_best"] == max(r["test_accuracy"] for r in lines)
    assert summary["test_accuracy_last10_mean"] == pytest.approx(np.mean([r["test_accuracy"] for r in lines]))
    assert summary["choices"]["algorithm"] == "co-prl-l" and summary["choices"]["noise"] == "pairflip45"
    assert summary["epsilon_source"] == "expected_corruption"
    labels = np.load(out / "labels.npz")
    assert labels["clean"].shape == labels["noisy"].shape == (1348,)
    assert summary["noise_rate_realised"] == pytest.approx((labels["clean"] != labels["noisy"]).mean())
    assert 0.35 < summary["noise_rate_realised"] < 0.55
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["algorithm"]["epsilon"] is None and "${" not in (out / "config.yaml").read_text()
    assert summary["epsilon"] == 0.45
    assert (out / ".hydra" / "config.yaml").exists() and (out / "checkpoint.pt").exists()
    assert "epoch   3" in (out / "run.log").read_text()  # one-line epoch summaries in the log


def test_noise_touches_training_labels_only(tiny_cfg):
    run = setup(tiny_cfg("noise=symmetric50"))
    clean = digits()
    assert torch.equal(run.data.test_y, clean.test_y)
    assert torch.equal(run.data.train_y, clean.train_y)
    assert (run.noisy_y != clean.train_y).float().mean() > 0.4
    assert torch.equal(run.clean_mask.cpu(), run.noisy_y == clean.train_y)


def test_noise_seed_is_independent_of_training_seed(tiny_cfg):
    a = setup(tiny_cfg("seed=0", "noise.seed=0")).noisy_y
    assert torch.equal(a, setup(tiny_cfg("seed=1", "noise.seed=0")).noisy_y)
    assert not torch.equal(a, setup(tiny_cfg("seed=0", "noise.seed=1")).noisy_y)


def test_explicit_epsilon_is_recorded_as_the_users(tiny_cfg, tmp_path):
    summary = train(tiny_cfg("algorithm=prl-l", "noise=symmetric20", "algorithm.epsilon=0.3", "trainer.epochs=1"),
                    str(tmp_path))
    assert summary["epsilon"] == 0.3 and summary["epsilon_source"] == "user"
    assert summary["noise_rate_expected"] == 0.2


def test_bad_input_single_run_exits_2_with_one_paragraph_and_leaves_nothing(tmp_path):
    out = tmp_path / "bad"
    res = run_cli([*TINY, "noise=symmetric", "noise.rate=1.5", f"hydra.run.dir={out}"])
    assert res.returncode == 2
    assert res.stderr.strip().startswith("Config error: noise.rate must be in [0, 1)")
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_group_option_lists_the_choices(tmp_path):
    res = run_cli([*TINY, "algorithm=co-prl-x", f"hydra.run.dir={tmp_path / 'x'}"])
    assert res.returncode != 0 and "Could not find 'algorithm/co-prl-x'" in res.stderr
    assert "co-prl-l" in res.stderr and "Traceback" not in res.stderr
