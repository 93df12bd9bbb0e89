"""A new selection rule is one small class (and, to run it from the command line, one YAML file
``conf/algorithm/<name>.yaml``): here "keep the samples whose loss is below a threshold", whose
kept count is decided at run time and may be zero, without a fake epsilon or ramp."""

from __future__ import annotations

import json
import math

import torch
from omegaconf import OmegaConf, open_dict

from prl.algorithms import REGISTRY, KeepRule, Selection
from prl.engine import train


class BelowThreshold(KeepRule):
    def __init__(self, threshold: float):
        self.threshold = float(threshold)

    def drops(self, n):
        return True

    def keep(self, scores):
        return torch.nonzero(scores < self.threshold).flatten()


class LossBelow(Selection):
    """Keep the samples whose loss is below ``threshold``."""

    separate_scoring = True

    def __init__(self, *args, threshold: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.rule = BelowThreshold(threshold)

    def score(self, i, output, target, losses):
        return losses


def run(tiny_cfg, tmp_path, monkeypatch, threshold):
    LossBelow.name = "loss-below"
    monkeypatch.setitem(REGISTRY, "loss-below", LossBelow)
    cfg = tiny_cfg("noise=symmetric50", "trainer.epochs=3", "model=cnn-small-gn")  # no BatchNorm statistics
    with open_dict(cfg):
        cfg.algorithm = OmegaConf.create({"name": "loss-below", "threshold": threshold})  # conf/algorithm/loss-below.yaml
    summary = train(cfg, str(tmp_path))
    return summary, [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]


def test_a_threshold_rule_keeps_a_count_decided_at_run_time(tiny_cfg, tmp_path, monkeypatch):
    summary, rows = run(tiny_cfg, tmp_path, monkeypatch, threshold=2.0)
    assert summary["status"] == "completed" and "epsilon" not in rows[0]
    fractions = [r["kept_fraction"] for r in rows]
    assert 0.0 < min(fractions) < max(fractions) < 1.0  # the count moves with the losses
    assert rows[-1]["label_precision"] > 100 * (1 - summary["noise_rate_realised"]) + 2  # cleaner than the data


def test_an_empty_selection_skips_the_update_instead_of_diverging(tiny_cfg, tmp_path, monkeypatch):
    summary, rows = run(tiny_cfg, tmp_path, monkeypatch, threshold=0.0)  # no loss is below 0: nothing kept
    assert summary["status"] == "completed"
    assert all(r["kept_fraction"] == 0.0 and r["train_loss"] == 0.0 for r in rows)
    assert all(r["label_precision"] is None or math.isnan(r["label_precision"]) for r in rows)
    assert len({r["test_accuracy"] for r in rows}) == 1  # the networks never moved
