"""The bad-input catalogue: run.py in a subprocess, one clear error, a non-zero exit, and no
result left behind that an analysis could take for a run."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from prl import algorithms

from .conftest import CONF, TINY, run_cli

TARGET_NOISES = sorted(p.stem for p in Path(CONF, "noise").glob("target-*.yaml") if p.stem != "target-clean")


def truncated_dataset(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for name, shape in (("train-images-idx3-ubyte", (20, 28, 28)), ("train-labels-idx1-ubyte", (20,)),
                        ("t10k-images-idx3-ubyte", (10, 28, 28)), ("t10k-labels-idx1-ubyte", (10,))):
        arr = rng.randint(0, 10, shape).astype(np.uint8)
        raw = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
        if name.startswith("train-images"):
            raw = raw[: len(raw) // 2]  # cut in the middle
        with gzip.open(root / (name + ".gz"), "wb") as fh:
            fh.write(raw)
    return root


def short_label_file(path: Path) -> Path:
    np.save(path, np.zeros(100, dtype=np.int64))
    return path


# (id, overrides, texts that must all appear in the error, with tmp_path available as {tmp})
CASES = [
    ("unknown-algorithm", ["algorithm=co-prl-x"], ["algorithm/co-prl-x", "co-prl-l"]),
    ("unknown-model", ["model=resnet99"], ["model/resnet99", "resnet32"]),
    ("unknown-dataset", ["dataset=imagenet"], ["dataset/imagenet", "fashion-mnist"]),
    ("unknown-noise", ["noise=gaussian"], ["noise/gaussian", "pairflip45"]),
    ("negative-rate", ["noise=symmetric", "noise.rate=-0.1"], ["noise.rate must be in [0, 1)"]),
    ("rate-one", ["noise=pairflip", "noise.rate=1.0"], ["noise.rate must be in [0, 1)"]),
    ("epsilon-one", ["algorithm=prl-l", "algorithm.epsilon=1.0"], ["algorithm.epsilon must be in [0, 1)"]),
    ("epsilon-negative", ["algorithm=co-teaching", "algorithm.epsilon=-0.2"], ["algorithm.epsilon must be in [0, 1)"]),
    ("batch-size-zero", ["trainer.batch_size=0"], ["trainer.batch_size must be >= 1"]),
    ("epochs-negative", ["trainer.epochs=-1"], ["trainer.epochs must be >= 0"]),
    ("symmetric-uninformative", ["noise=symmetric", "noise.rate=0.95"], ["noise.rate=0.95", "allowed: 0 <= rate < 0.9"]),
    ("pairflip-uninformative", ["noise=pairflip", "noise.rate=0.5"], ["noise.rate=0.5", "allowed: 0 <= rate < 0.5"]),
    ("root-missing", ["dataset=mnist", "dataset.root={tmp}/nowhere"], ["dataset.root=", "does not exist"]),
    ("dataset-not-found", ["dataset=cifar10", "dataset.root={tmp}"], ["CIFAR-10 not found", "dataset.download=true"]),
    ("truncated-dataset", ["dataset=fashion-mnist", "dataset.root={trunc}"], ["corrupt or truncated"]),
    ("label-file-length", ["noise=labelfile", "noise.path={labels}"], ["noise.path", "100 labels but the training set has 1348"]),
    ("label-file-missing-path", ["noise=labelfile"], ["noise.path must be set"]),
    ("typo-top-level", ["trainer.epoch=3"], ["trainer.epoch"]),
    ("typo-in-group", ["+noise.rat=0.3"], ["noise.rat is not a setting of noise", "allowed keys: rate, seed"]),
    ("wrong-type", ["trainer.epochs=ten"], ["trainer.epochs", "ten"]),
    ("wrong-type-in-group", ["noise.rate=abc"], ["noise.rate must be a number"]),
    ("model-too-big-for-input", ["model=cnn9"], ["model", "cnn9 needs images of at least 28x28", "cnn-small"]),
    ("tabular-model-mismatch", ["model.norm=batch"], ["model.norm", "bn, gn, none"]),
    ("no-cuda", ["trainer.device=cuda"], ["trainer.device=cuda", "no CUDA device"]),
    ("bad-logger-mode", ["logger=wandb", "logger.mode=loud"], ["logger.mode", "offline, online or disabled"]),
    ("num-gradual-negative", ["algorithm.num_gradual=-1"], ["algorithm.num_gradual must be >= 0"]),
    ("score-pass-unknown", ["algorithm=prl-l", "algorithm.score_pass=auto"],
     ["algorithm.score_pass must be one of shared, separate"]),
    ("score-pass-separate-not-possible", ["algorithm=jocor", "+algorithm.score_pass=separate"],
     ["algorithm.score_pass=separate is not possible for jocor", "co-prl-l"]),
    ("erm-has-no-selection-switches", ["algorithm=bootstrapping", "+algorithm.double_divide=true"],
     ["algorithm.double_divide is not a setting of algorithm", "allowed keys: beta, networks"]),
]
if "prl-g" in algorithms.available():
    CASES.append(("prl-g-with-batchnorm", ["algorithm=prl-g", "model=cnn-small"], ["BatchNorm", "resnet32-gn", "cnn-small-gn"]))
if TARGET_NOISES:
    CASES.append(("regression-noise-on-classification", [f"noise={TARGET_NOISES[0]}", "noise.rate=0.3"],
                  ["noise", "classification"]))
if "diabetes" in {p.stem for p in Path(CONF, "dataset").glob("*.yaml")}:
    CASES.append(("classification-noise-on-regression", ["dataset=diabetes", "model=mlp", "noise=symmetric20"],
                  ["noise", "regression"]))


def test_catalogue_is_big_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path):
    _, overrides, expected = case
    fill = {"tmp": tmp_path, "trunc": truncated_dataset(tmp_path / "trunc"),
            "labels": short_label_file(tmp_path / "labels.npy")}
    out = tmp_path / "run"
    res = run_cli([*TINY, *[o.format(**fill) for o in overrides], f"hydra.run.dir={out}"], timeout=300)
    assert res.returncode != 0
    err = res.stderr.strip()
    assert "Traceback" not in err, err
    for text in expected:
        assert text in err, f"{text!r} not in:\n{err}"
    assert not (out / "summary.json").exists() and not (out / "metrics.jsonl").exists()
    assert not out.exists(), f"{out} left behind: {list(out.iterdir())}"


def test_divergence_stops_with_status_diverged(tmp_path):
    out = tmp_path / "run"
    res = run_cli([*TINY, "algorithm=standard", "optimizer=sgd", "optimizer.lr=1e30", f"hydra.run.dir={out}"])
    assert res.returncode == 1
    assert "Training diverged" in res.stderr and "Traceback" not in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged"
