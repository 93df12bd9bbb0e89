"""epsilon=auto: the keep rule estimates the corrupted fraction while training and ramps to it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from prl import algorithms
from prl.algorithms.keep import EstimatedFraction
from prl.engine import train
from prl.errors import ConfigError
from prl.models import MLP
from prl.optim import adam

from ..conftest import TINY, run_cli

AUTO = [*TINY, "algorithm.epsilon=auto", "algorithm.num_gradual=4", "trainer.epochs=12", "trainer.threads=1"]


def metrics(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("algorithm", ["co-prl-l", "prl-l", "spl", "co-teaching", "jocor"])
def test_auto_estimates_symmetric_50_on_digits(algorithm, tiny_cfg, tmp_path):
    s = train(tiny_cfg(*AUTO[len(TINY):], f"algorithm={algorithm}", "noise=symmetric50", "algorithm.estimator=mixture"),
              str(tmp_path))
    assert s["epsilon_source"] == "auto" and s["estimator"] == "mixture"
    assert abs(s["epsilon_estimate_final"] - s["noise_rate_realised"]) < 0.05
    assert s["epsilon_estimate_error"] == pytest.approx(s["epsilon_estimate_final"] - s["noise_rate_realised"])
    rows = metrics(tmp_path)
    assert all("epsilon_estimate" in r and "epsilon_target" in r for r in rows)
    # the ramp leads to the running maximum of the estimates, one epoch behind them
    for prev, row in zip(rows, rows[1:]):
        assert row["epsilon_target"] >= prev["epsilon_target"]
    assert rows[-1]["epsilon"] <= rows[-2]["epsilon_target"] + 1e-12


def test_the_default_for_classification_reads_anchor_points_of_a_held_out_split(tiny_cfg, tmp_path):
    s = train(tiny_cfg(*AUTO[len(TINY):], "algorithm=co-prl-l", "noise=symmetric50", "algorithm.heldout_fraction=0.25"),
              str(tmp_path))
    # 337 held-out digits, 10 anchors per row: about 0.12 off here (Fashion-MNIST's 3,000: within 0.05, README)
    assert s["estimator"] == "anchor" and abs(s["epsilon_estimate_error"]) < 0.15
    rows = metrics(tmp_path)
    assert {"epsilon_estimate_anchor", "epsilon_estimate_confident", "epsilon_estimate_mixture"} <= set(rows[-1])
    assert rows[0]["epsilon_estimate_anchor"] == 0.0  # the first epochs are a warm-up: a young network overestimates


def test_the_mixture_stays_at_zero_on_clean_labels(tiny_cfg, tmp_path):
    s = train(tiny_cfg(*AUTO[len(TINY):], "algorithm=co-prl-l", "noise=clean", "algorithm.estimator=mixture"),
              str(tmp_path))
    assert s["epsilon_estimate_final"] == 0.0 and s["epsilon"] == 0.0
    assert all(r["epsilon"] == 0.0 and r["kept_fraction"] == 1.0 for r in metrics(tmp_path))


def test_auto_for_regression_uses_the_residual_norm(tiny_cfg, tmp_path):
    s = train(tiny_cfg(*AUTO[len(TINY):], "dataset=diabetes", "model=mlp", "noise=target-shift", "noise.rate=0.3",
                       "noise.shift=8", "algorithm=prl-l", "trainer.epochs=12"), str(tmp_path))
    assert s["epsilon_source"] == "auto" and abs(s["epsilon_estimate_error"]) < 0.05


def test_held_out_estimators_are_logged_next_to_the_mixture(tiny_cfg, tmp_path):
    s = train(tiny_cfg(*AUTO[len(TINY):], "algorithm=co-prl-l", "noise=symmetric50", "algorithm.estimator=confident"),
              str(tmp_path))
    last = metrics(tmp_path)[-1]
    assert {"epsilon_estimate_mixture", "epsilon_estimate_agreement", "epsilon_estimate_confident"} <= set(last)
    assert last["epsilon_estimate"] == last["epsilon_estimate_confident"] and s["estimator"] == "confident"
    import pandas as pd

    samples = pd.read_csv(tmp_path / "samples.csv.gz")
    held = samples[samples["seen"] == 0]
    assert len(held) == round(0.05 * len(samples))  # the held-out split is never trained on
    assert abs(s["epsilon_estimate_confident_final"] - s["noise_rate_realised"]) < 0.1


def test_resumed_auto_run_equals_an_uninterrupted_one(tiny_cfg, tmp_path, monkeypatch):
    import prl.engine.loop as loop

    cfg = tiny_cfg(*AUTO[len(TINY):], "algorithm=co-prl-l", "noise=pairflip45")
    train(cfg, str(tmp_path / "full"))
    original = loop.run_epoch

    def stop_at_4(run, epoch, stop):  # a signal during epoch 5: the checkpoint of epoch 4 stays
        return None if epoch == 4 else original(run, epoch, stop)

    monkeypatch.setattr(loop, "run_epoch", stop_at_4)
    assert train(cfg, str(tmp_path / "resumed"))["status"] == "interrupted"
    monkeypatch.setattr(loop, "run_epoch", original)
    assert train(cfg, str(tmp_path / "resumed"))["status"] == "completed"
    timing = ("seconds", "samples_per_s")
    a, b = ([{k: v for k, v in r.items() if k not in timing} for r in metrics(tmp_path / d)] for d in ("full", "resumed"))
    assert a == b
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "full" / "samples.csv.gz"),
                                  pd.read_csv(tmp_path / "resumed" / "samples.csv.gz"))


def test_the_rule_state_round_trips():
    rule = EstimatedFraction(500, "classification", 10, estimator="mixture")
    g = torch.Generator().manual_seed(0)
    scores = torch.cat([torch.rand(350, generator=g) * 0.2, 1.2 + torch.rand(150, generator=g) * 0.2])
    for _ in range(3):  # past the classification mixture's warm-up
        rule.observe(scores, torch.arange(500))
        rule.end_epoch()
    state = rule.state_dict()
    other = EstimatedFraction(500, "classification", 10, estimator="mixture")
    other.load_state_dict(state)
    assert (other.estimate, other.target) == (rule.estimate, rule.target) and rule.target == pytest.approx(0.3, abs=0.02)
    for r in (rule, other):
        r.start_epoch(3)
    assert rule.epsilon_t == other.epsilon_t == pytest.approx(rule.target * 3 / 9)


@pytest.mark.parametrize("overrides, expected", [
    (["algorithm=prl-l", "algorithm.epsilon=aut"], "algorithm.epsilon must be a number in [0, 1) or auto"),
    (["algorithm=co-prl-l", "algorithm.epsilon=auto", "algorithm.estimator=mixtur"],
     "algorithm.estimator must be one of mixture, anchor, confident, agreement"),
    (["algorithm=prl-l", "algorithm.estimator=bayes"], "algorithm.estimator must be one of mixture, anchor"),
    (["algorithm=standard", "+algorithm.epsilon=auto"], "algorithm.epsilon: algorithm=standard does not select"),
    (["dataset=diabetes", "model=mlp", "noise=target-shift", "noise.rate=0.3", "algorithm=prl-l",
      "algorithm.epsilon=auto", "algorithm.estimator=confident"], "algorithm.estimator=confident needs class labels"),
])
def test_bad_auto_input_is_one_clear_error(overrides, expected, tmp_path):
    out = tmp_path / "run"
    res = run_cli([*TINY, *overrides, f"hydra.run.dir={out}"])
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    assert expected in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_auto_needs_the_training_set_size():
    with pytest.raises(ConfigError, match="epsilon=auto needs num_samples"):
        algorithms.get("prl-l")(model_fn=lambda: MLP((4,), 3), optimizer_fn=adam, epsilon="auto")


def test_the_estimator_defaults_to_anchor_for_classification_and_mixture_for_regression():
    assert EstimatedFraction(10000, "classification", 10).estimator == "anchor"
    assert EstimatedFraction(10000, "classification", 10).heldout_fraction == 0.05
    regression = EstimatedFraction(500, "regression")
    assert regression.estimator == "mixture" and regression.heldout_fraction == 0.0
    assert set(regression.estimators) == {"mixture"}


def test_a_training_set_too_small_for_a_held_out_split_runs_the_mixture_unless_anchor_is_asked_for(caplog):
    """The anchor rows average the top 3% of the held-out split: with fewer than 10 samples there
    (334 held out) digits' 67 overestimated symmetric 50% by +0.28.  5% of 6,000 samples is 300:
    the default falls back to the mixture (with a warning); an explicit anchor is refused before
    any work; confident learning needs 5 per class only."""
    rule = EstimatedFraction(6000, "classification", 10)
    assert rule.estimator == "mixture" and rule.heldout_fraction == 0.0 and set(rule.estimators) == {"mixture"}
    assert "so the mixture of training scores estimates epsilon" in caplog.text and "at least 334 samples" in caplog.text
    assert "would hold out 300 of 6000" in rule.summary()["estimator_fallback"]
    assert "heldout_fraction=0.06 or more brings anchor back" in rule.summary()["estimator_fallback"]
    assert "too small for anchor" in EstimatedFraction(640, "classification", 3).summary()["estimator_fallback"]
    assert EstimatedFraction(6680, "classification", 10).estimator == "anchor"
    assert EstimatedFraction(6000, "classification", 10, heldout_fraction=0.06).estimator == "anchor"
    with pytest.raises(ConfigError, match="at least 334 samples.*heldout_fraction=0.06 or more brings anchor back"):
        EstimatedFraction(6000, "classification", 10, estimator="anchor")
    assert EstimatedFraction(1000, "classification", 10, estimator="confident").estimator == "confident"
    with pytest.raises(ConfigError, match="at least 50 samples"):
        EstimatedFraction(900, "classification", 10, estimator="confident")


def test_the_epoch_line_shows_the_epsilon_used_where_it_ramps_to_and_the_estimate():
    from prl.engine.metrics import epoch_line
    from prl.tasks import get_task

    record = {"epoch": 4, "epsilon": 0.299, "epsilon_target": 0.398, "epsilon_estimate": 0.313, "train_loss": 0.7,
              "test_accuracy": 68.77, "label_precision": 72.0, "label_recall": 91.7, "seconds": 8.8,
              "samples_per_s": 2165.0}
    line = epoch_line(record, get_task("classification"))
    assert "eps 0.299 (ramping to 0.398; estimate 0.313) | loss 0.7000 | test_acc 68.77%" in line


def test_a_regression_run_whose_estimate_stays_zero_says_the_mixture_may_be_blind(caplog):
    """The mixture reads 0 on the bundled regression sets with 30% corrupted targets (README):
    after 3 epochs at 0 the run says so once, and points at algorithm.epsilon."""
    from prl.algorithms.keep import REGRESSION_WARN_AFTER

    rule = EstimatedFraction(300, "regression")
    g = torch.Generator().manual_seed(0)
    for _ in range(REGRESSION_WARN_AFTER + 2):
        rule.observe(torch.exp(0.3 * torch.randn(300, generator=g)), torch.arange(300))  # one log-normal mode
        rule.end_epoch()
    assert rule.target == 0.0
    assert caplog.text.count("residuals show no second mode") == 1 and "algorithm.epsilon" in caplog.text


def test_the_classification_mixture_skips_the_warm_up_so_a_first_epoch_spike_is_not_kept():
    """A near-chance network's first mixture reading can be far too high (0.9 on a fresh user's
    640-row CSV whose estimate settled at 0.20); the running maximum would keep it for the run."""
    from prl.algorithms.keep import HELDOUT_WARMUP

    rule = EstimatedFraction(300, "classification", 2, estimator="mixture")
    g = torch.Generator().manual_seed(0)
    first = torch.cat([torch.rand(30, generator=g) * 0.2, 1.2 + torch.rand(270, generator=g) * 0.2])
    later = torch.cat([torch.rand(240, generator=g) * 0.2, 1.2 + torch.rand(60, generator=g) * 0.2])
    targets = []
    for scores in [first] * HELDOUT_WARMUP + [later] * 4:
        rule.observe(scores, torch.arange(300))
        rule.end_epoch()
        targets.append(rule.target)
    assert targets[:HELDOUT_WARMUP] == [0.0] * HELDOUT_WARMUP
    assert targets[-1] == pytest.approx(0.2, abs=0.03)
