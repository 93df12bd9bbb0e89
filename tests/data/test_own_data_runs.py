"""Your own data end to end: a CSV and an image folder in, a model and a suspect list with your
ids out; a loader of your own through Hydra's search path; bad input refused before any work."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ..conftest import run_cli
from .test_folder import make_folder

RUN = ["logger=none", "trainer.progress=false", "trainer.threads=1", "trainer.batch_size=32"]


def run_ok(tmp_path: Path, args: list[str]) -> Path:
    """Run ``run.py`` with ``args`` (and the quick settings) into ``tmp_path/run``; assert it succeeded."""
    out = tmp_path / "run"
    res = run_cli([*args, *RUN, f"hydra.run.dir={out}"])
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def blobs_csv(path: Path, n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Three well separated classes in 4 numeric columns plus a categorical one, an id column,
    and 20% of the labels replaced by another class (the wrong rows are recorded for the test)."""
    rng = np.random.RandomState(seed)
    label = rng.randint(0, 3, n)
    x = 3.0 * np.eye(3, 4)[label] + rng.normal(0, 0.6, (n, 4))
    wrong = rng.rand(n) < 0.2
    given = np.where(wrong, (label + rng.randint(1, 3, n)) % 3, label)
    names = np.array(["apple", "banana", "cherry"])
    frame = pd.DataFrame({"sample": [f"s{i:04d}" for i in range(n)], **{f"f{j}": x[:, j] for j in range(4)},
                          "shop": rng.choice(["north", "south"], n), "fruit": names[given]})
    frame.to_csv(path, index=False)
    return frame.assign(wrong=wrong)


def test_csv_classification_with_epsilon_auto_names_your_rows(tmp_path):
    truth = blobs_csv(tmp_path / "fruit.csv")
    out = tmp_path / "run"
    res = run_cli(["dataset=csv", f"dataset.path={tmp_path / 'fruit.csv'}", "dataset.label=fruit", "dataset.id=sample",
                   "dataset.test_fraction=0.25", "model=mlp", "algorithm=co-prl-l", "algorithm.epsilon=auto",
                   "algorithm.num_gradual=5", "trainer.epochs=15", *RUN, f"hydra.run.dir={out}"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"most suspect labels first: {out / 'suspect_labels.csv'}" in res.stdout + res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epsilon_source"] == "auto" and "suspect_auroc" not in summary  # the truth is yours, not ours
    suspects = pd.read_csv(out / "suspect_labels.csv")
    samples = pd.read_csv(out / "samples.csv.gz")
    assert set(samples["id"]) <= set(truth["sample"]) and len(samples) == 180
    assert set(suspects["label"]) <= {"apple", "banana", "cherry"}
    flagged = suspects[suspects["flagged"]]
    assert len(flagged) == summary["suspects_flagged"] > 0
    wrong = set(truth.loc[truth["wrong"], "sample"])
    assert np.mean([s in wrong for s in flagged["id"]]) > 0.7  # the flagged rows are mostly the wrong ones


def test_csv_regression_targets(tmp_path):
    rng = np.random.RandomState(1)
    x = rng.normal(size=(300, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": x @ [1.0, -2.0, 0.5]}).to_csv(tmp_path / "t.csv",
                                                                                                  index=False)
    out = run_ok(tmp_path, ["dataset=csv", f"dataset.path={tmp_path / 't.csv'}", "dataset.targets=y", "model=mlp",
                            "noise=target-shift", "noise.rate=0.2", "algorithm=prl-l", "trainer.epochs=3"])
    samples = pd.read_csv(out / "samples.csv.gz")
    assert {"target", "prediction", "suspicion"} <= set(samples) and len(samples) == 240


def test_image_folder_ids_are_the_image_paths(tmp_path):
    root = make_folder(tmp_path / "photos", per_class=12)
    out = run_ok(tmp_path, ["dataset=imagefolder", f"dataset.root={root}", "dataset.size=8", "model=cnn-small",
                            "model.padding=2", "algorithm=co-prl-l", "algorithm.epsilon=auto", "trainer.epochs=2"])
    suspects = pd.read_csv(out / "suspect_labels.csv")
    assert all(os.path.isfile(os.path.join(root, p)) for p in suspects["id"])
    assert set(suspects["label"]) <= {"blue", "green", "red"}


def test_a_loader_of_your_own(tmp_path):
    """The Data contract: any importable function returning prl.data.Data, named by a config file
    in your own config folder (Hydra's search path)."""
    (tmp_path / "my_loader.py").write_text('''
import torch
from prl.data import Data

def load(n: int = 200, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = y[:, None].float() * 2.0 + torch.randn(n, 5, generator=g)
    return Data("mine", x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:], task="classification", num_classes=2,
                classes=["no", "yes"], train_ids=[f"row{i}" for i in range(n // 2)], clean_known=False)
''')
    (tmp_path / "myconf" / "dataset").mkdir(parents=True)
    (tmp_path / "myconf" / "dataset" / "mine.yaml").write_text(
        "defaults: [{override /noise@_global_.noise: none}, _self_]\n_target_: my_loader.load\nn: 200\nseed: 0\n")
    out = tmp_path / "run"
    res = run_cli([f"hydra.searchpath=[file://{tmp_path / 'myconf'}]", "dataset=mine", "model=mlp",
                   "algorithm=prl-l", "algorithm.epsilon=0.1", "trainer.epochs=2", *RUN, f"hydra.run.dir={out}"],
                  cwd=tmp_path, PYTHONPATH=str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    assert pd.read_csv(out / "suspect_labels.csv")["id"].str.startswith("row").all()
    assert json.loads((out / "summary.json").read_text())["noise"]["type"] == "none"  # the README's line: as given
    res = run_cli([f"hydra.searchpath=[file://{tmp_path / 'myconf'}]", "dataset=mine", "dataset.n=-1", "model=mlp",
                   *RUN, f"hydra.run.dir={tmp_path / 'bad'}"], cwd=tmp_path, PYTHONPATH=str(tmp_path))
    assert res.returncode != 0 and not (tmp_path / "bad" / "summary.json").exists()


@pytest.mark.parametrize("case", ["missing-column", "missing-value", "text-target", "empty-class", "corrupt-image"])
def test_bad_own_data_is_one_clear_error_and_nothing_written(case, tmp_path):
    blobs_csv(tmp_path / "fruit.csv")
    frame = pd.read_csv(tmp_path / "fruit.csv")
    args, expected = {
        "missing-column": (["dataset=csv", f"dataset.path={tmp_path / 'fruit.csv'}", "dataset.label=kind"],
                           ["dataset.label", "kind"]),
        "missing-value": (["dataset=csv", f"dataset.path={tmp_path / 'holes.csv'}", "dataset.label=fruit"],
                          ["f2", "missing"]),
        "text-target": (["dataset=csv", f"dataset.path={tmp_path / 'fruit.csv'}", "dataset.targets=fruit"],
                        ["dataset.targets", "fruit"]),
        "empty-class": (["dataset=imagefolder", f"dataset.root={tmp_path / 'photos'}", "dataset.size=8"],
                        ["empty"]),
        "corrupt-image": (["dataset=imagefolder", f"dataset.root={tmp_path / 'photos'}", "dataset.size=8"],
                          ["broken.png"]),
    }[case]
    if case == "missing-value":
        frame.loc[7, "f2"] = np.nan
        frame.to_csv(tmp_path / "holes.csv", index=False)
    if case in ("empty-class", "corrupt-image"):
        make_folder(tmp_path / "photos", per_class=4)
        if case == "empty-class":
            (tmp_path / "photos" / "empty").mkdir()
        else:
            (tmp_path / "photos" / "red" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "run"
    res = run_cli([*args, "model=mlp", *RUN, f"hydra.run.dir={out}"])
    assert res.returncode == 2, res.stdout[-2000:] + res.stderr[-2000:]
    err = res.stderr.strip()
    assert err.startswith("Config error:") and len(err.splitlines()) == 1 and "Traceback" not in err
    for text in expected:
        assert text in err, err
    assert not out.exists()
    assert not [p for p in (tmp_path / "photos").rglob(".prl-cache-*")] if (tmp_path / "photos").exists() else True


def test_a_csv_of_a_bundled_dataset_trains_exactly_like_the_bundled_loader(tmp_path):
    """diabetes written to CSV with its own split: the same tensors, so a noisy run reaches the
    same test MSE, float for float."""
    from sklearn.datasets import load_diabetes

    from prl.data import diabetes
    from prl.data.transforms import random_split

    bunch = load_diabetes()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names).assign(progression=bunch.target)
    train, test = random_split(len(frame), 0.2, 0)
    frame.iloc[train].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[test].to_csv(tmp_path / "test.csv", index=False)
    from prl.data import table_dataset

    mine, bundled = table_dataset(str(tmp_path / "train.csv"), targets="progression",
                                  test_path=str(tmp_path / "test.csv")), diabetes()
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert np.allclose(getattr(mine, field).numpy(), getattr(bundled, field).numpy(), atol=1e-6), field
    runs = []
    for name, data_args in (("csv", ["dataset=csv", f"dataset.path={tmp_path / 'train.csv'}",
                                     "dataset.targets=progression", f"dataset.test_path={tmp_path / 'test.csv'}",
                                     "model.hidden=[64]", "trainer.batch_size=32"]),
                            ("bundled", ["dataset=diabetes"])):
        res = run_cli([*data_args, "model=mlp", "noise=target-heavy-tailed", "noise.rate=0.3", "algorithm=prl-l",
                       "trainer.epochs=5", *RUN[:3], f"hydra.run.dir={tmp_path / name}"])
        assert res.returncode == 0, res.stderr[-2000:]
        runs.append(json.loads((tmp_path / name / "summary.json").read_text()))
    assert runs[0]["test_mse_final"] == pytest.approx(runs[1]["test_mse_final"], rel=1e-4)


@pytest.mark.parametrize("dataset", ["dataset=csv", "dataset=imagefolder"])
def test_your_own_data_is_trained_as_given_unless_you_inject_noise(dataset):
    """Own data defaults to noise=none (the main job's pair-flip 45% would corrupt your labels
    further and the suspect list would mostly name the flips prl made); a noise on the command
    line still wins; the built-in sets keep the main job's default."""
    from ..conftest import compose

    assert compose(dataset).noise._target_ == "prl.noise.AsGiven"
    assert compose(dataset, "noise=symmetric20").noise._target_ == "prl.noise.Symmetric"
    assert compose().noise._target_ == compose("dataset=digits").noise._target_ == "prl.noise.PairFlip"


def test_targets_as_given_serve_both_tasks_and_make_epsilon_auto():
    import torch

    from prl.data import Data
    from prl.engine.setup import corrupt, resolve_epsilon
    from prl.noise import AsGiven

    x = torch.randn(6, 2)
    for y, task in ((torch.tensor([0, 1, 2, 0, 1, 2]), "classification"), (torch.randn(6), "regression")):
        data = Data("mine", x, y, x, y, task=task, num_classes=3 if task == "classification" else None)
        noisy, info = corrupt(AsGiven(), data)
        assert np.array_equal(noisy, y.numpy()) and info["rate_realised"] == 0.0 and info["rate_expected"] is None
        assert resolve_epsilon(None, info) == ("auto", "auto")
        assert resolve_epsilon(0.2, info) == (0.2, "user")
