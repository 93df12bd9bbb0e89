"""The per-sample record (samples.csv.gz) and the suspect list (suspect_labels.csv) of a run."""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from prl.engine import train
from prl.engine.samples import MIN_SUSPECTS, SampleLedger
from prl.estimation import auroc


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory):
    from ..conftest import compose, TINY

    out = tmp_path_factory.mktemp("samples")
    summary = train(compose(*TINY, "trainer.epochs=6", "algorithm=co-prl-l", "noise=symmetric50",
                            "algorithm.num_gradual=3", "trainer.threads=1"), str(out))
    return out, summary


def test_every_training_sample_has_a_row(noisy_run):
    out, summary = noisy_run
    samples = pd.read_csv(out / "samples.csv.gz")
    labels = np.load(out / "labels.npz")
    assert list(samples["index"]) == list(range(len(labels["noisy"])))
    assert (samples["label"].to_numpy() == labels["noisy"]).all()
    assert (samples["clean_label"].to_numpy() == labels["clean"]).all()
    assert (samples["corrupted"].to_numpy() == (labels["clean"] != labels["noisy"])).all()
    # every step: both networks saw the sample once; each stepped on it or not
    steps = (samples["seen"] // 2)
    assert (samples["kept"] <= samples["seen"]).all() and (steps == 6).all()  # 6 full passes over the data
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    kept_fraction = np.mean([m["kept_fraction"] for m in metrics])
    assert samples["kept"].sum() / samples["seen"].sum() == pytest.approx(kept_fraction, abs=1e-9)
    assert samples[["score_last", "score_mean", "score_final"]].notna().all().all()
    assert set(samples["prediction"]) <= set(range(10))


def test_suspects_come_most_suspect_first(noisy_run):
    out, summary = noisy_run
    samples = pd.read_csv(out / "samples.csv.gz")
    suspects = pd.read_csv(out / "suspect_labels.csv")
    flagged = summary["suspects_flagged"]
    assert flagged == int(np.ceil(summary["epsilon"] * len(samples)))
    assert len(suspects) == max(flagged, MIN_SUSPECTS) and suspects["flagged"].sum() == flagged
    assert list(suspects["rank"]) == list(range(1, len(suspects) + 1))
    assert suspects["suspicion"].is_monotonic_decreasing
    assert suspects["suspicion"].iloc[0] == samples["suspicion"].max()
    # the ranking's quality is the summary's, measured against the corrupted flags
    assert summary["suspect_auroc"] == pytest.approx(auroc(samples["suspicion"], samples["corrupted"]))
    assert summary["suspect_auroc"] > 0.9 and 0.0 <= summary["cleanlab_auroc"] <= 1.0
    top = samples.nsmallest(int(samples["corrupted"].sum()), "rank")
    assert summary["suspect_precision_at_k"] == pytest.approx(top["corrupted"].mean())


def test_the_dataset_ids_flow_into_both_files(tmp_path, tiny_cfg, monkeypatch):
    import prl.data.images as images

    original = images.digits

    @functools.wraps(original)  # the config check reads the loader's signature
    def digits_with_ids(*args, **kwargs):
        data = original(*args, **kwargs)
        data.train_ids = [f"img-{i:04d}" for i in range(data.train_x.shape[0])]
        data.clean_known = False  # as for your own data: no claim about which labels are wrong
        return data

    monkeypatch.setattr(images, "digits", digits_with_ids)
    import prl.data

    monkeypatch.setattr(prl.data, "digits", digits_with_ids)
    summary = train(tiny_cfg("algorithm=prl-l", "noise=clean", "algorithm.epsilon=0.1"), str(tmp_path))
    samples = pd.read_csv(tmp_path / "samples.csv.gz")
    suspects = pd.read_csv(tmp_path / "suspect_labels.csv")
    assert samples["id"].iloc[5] == "img-0005" and suspects["id"].str.startswith("img-").all()
    assert "corrupted" not in samples and "suspect_auroc" not in summary  # the truth is unknown


def test_ledger_counts_on_a_hand_made_step():
    ledger = SampleLedger(6, torch.device("cpu"))
    index = torch.tensor([4, 1, 3])
    ledger.add(index, {"kept": [torch.tensor([0, 2]), None], "scores": torch.tensor([0.5, 0.1, 0.9])})
    ledger.add(torch.tensor([1]), {"kept": [torch.tensor([], dtype=torch.long), torch.tensor([0])],
                                   "scores": torch.tensor([0.3])})
    assert ledger.seen.tolist() == [0, 4, 0, 2, 2, 0]
    assert ledger.kept.tolist() == [0, 2, 0, 2, 2, 0]
    assert ledger.score_last[1].item() == pytest.approx(0.3) and torch.isnan(ledger.score_last[0])
    assert ledger.score_sum[1].item() == pytest.approx(0.4) and ledger.score_count.tolist() == [0, 2, 0, 1, 1, 0]
