"""Regression under corrupted targets: datasets, corruptions, tail trimming, PRL-L on MSE, runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import prl.config  # noqa: F401  (registers the schema)
from prl.errors import ConfigError, ConfigValueError, DatasetError
from prl.data import CELEBA_LANDMARKS, celeba_landmarks, diabetes, fmnist_rotation, randhie, rotate_images
from prl.noise import (
    CleanTargets,
    ConstantShift,
    HeavyTailedTargets,
    LinearAdversary,
    RandomTargets,
    TailTrim,
    trim_training_set,
)

CONF = str(Path(__file__).resolve().parents[1] / "conf")
FMNIST = "/usr/share/datasets/fashion-mnist"
#: a short regression run: diabetes, MLP, 30% uniform target replacement, no logger
SHORT = ["dataset=diabetes", "model=mlp", "noise=target-random", "noise.rate=0.3", "logger=none",
         "trainer.epochs=2", "trainer.batch_size=64", "trainer.progress=false", "trainer.checkpoint=false"]

from .conftest import step


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def changed_rows(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    return np.any(clean.reshape(len(clean), -1) != noisy.reshape(len(noisy), -1), axis=1)


# ============================================================================= datasets


def _check_standardised(data, n_features=None):
    assert data.task == "regression" and data.num_classes is None
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.float32
    assert data.test_y.dtype == torch.float32
    y = data.train_y.double()
    assert torch.allclose(y.mean(0), torch.zeros(()).double(), atol=1e-5)
    assert torch.allclose(y.std(0, unbiased=False), torch.ones(()).double(), atol=1e-4)
    if n_features is not None:
        x = data.train_x.double()
        assert torch.allclose(x.mean(0), torch.zeros(n_features).double(), atol=1e-5)
        assert torch.allclose(x.std(0, unbiased=False), torch.ones(n_features).double(), atol=1e-4)


def test_diabetes_split_shapes_and_standardisation():
    d = diabetes()
    assert d.train_x.shape == (354, 10) and d.test_x.shape == (88, 10)
    assert d.train_y.shape == (354,) and d.test_y.shape == (88,)
    assert d.num_outputs == 1 and d.input_shape == (10,)
    _check_standardised(d, 10)
    # the test set uses the training statistics, so it is only roughly standardised
    assert abs(float(d.test_y.mean())) < 0.5 and 0.6 < float(d.test_y.std()) < 1.5
    # a fixed split: same seed, same data; another seed, another split
    assert torch.equal(diabetes().train_y, d.train_y)
    assert not torch.equal(diabetes(split_seed=1).train_y, d.train_y)
    raw = diabetes(standardize_targets=False, standardize_inputs=False)
    assert 25 <= float(raw.train_y.min()) and float(raw.train_y.max()) <= 346
    # z-scoring is the affine map with the *training* statistics, applied to train and test
    mean, std = raw.train_y.double().mean(), raw.train_y.double().std(unbiased=False)
    assert torch.allclose(((raw.test_y.double() - mean) / std).float(), d.test_y, atol=1e-5)
    with pytest.raises(ConfigValueError, match="test_fraction"):
        diabetes(test_fraction=1.0)


def test_randhie_split_cap_and_log_target():
    d = randhie()
    assert d.train_x.shape == (16152, 9) and d.test_x.shape == (4038, 9) and d.train_y.shape == (16152,)
    _check_standardised(d, 9)
    raw = randhie(standardize_targets=False)
    assert float(raw.train_y.min()) == 0 and float(raw.train_y.max()) <= 77
    # a long tail: the 99th percentile of the counts is far above the median
    assert np.quantile(raw.train_y.numpy(), 0.99) > 10 * np.median(raw.train_y.numpy())
    logged = randhie(standardize_targets=False, log1p_target=True)
    assert torch.allclose(logged.train_y, torch.log1p(raw.train_y), atol=1e-6)
    capped = randhie(max_train=500)
    assert capped.train_x.shape == (500, 9) and capped.test_x.shape == (4038, 9)
    assert torch.equal(randhie(max_train=500, standardize_inputs=False, standardize_targets=False).test_x,
                       randhie(standardize_inputs=False, standardize_targets=False).test_x)  # same test set


@pytest.mark.skipif(not os.path.isdir(FMNIST), reason="Fashion-MNIST is not installed")
def test_fmnist_rotation_angles_are_the_targets():
    from prl.data import fashion_mnist

    d = fmnist_rotation(max_train=64, max_test=16, normalize=False, standardize_targets=False)
    assert d.train_x.shape == (64, 1, 28, 28) and d.test_x.shape == (16, 1, 28, 28)
    assert d.train_y.shape == (64,) and d.num_outputs == 1
    angles = np.random.RandomState(0).uniform(-45, 45, size=80)
    assert np.allclose(d.train_y.numpy(), angles[:64], atol=1e-4)
    assert np.allclose(d.test_y.numpy(), angles[64:], atol=1e-4)
    base = fashion_mnist(normalize=False)
    expected = rotate_images(base.train_x[:64], torch.from_numpy(angles[:64]))
    assert torch.allclose(d.train_x, expected)
    # deterministic with its own seed
    again = fmnist_rotation(max_train=64, max_test=16, normalize=False, standardize_targets=False)
    assert torch.equal(again.train_x, d.train_x)
    other = fmnist_rotation(max_train=64, max_test=16, rotation_seed=1, standardize_targets=False)
    assert not torch.allclose(other.train_y, d.train_y)
    std = fmnist_rotation(max_train=64, max_test=16)
    _check_standardised(std)
    assert abs(float(std.train_x.mean())) < 1e-4 and abs(float(std.train_x.std()) - 1) < 1e-3
    with pytest.raises(ConfigValueError, match="max_angle"):
        fmnist_rotation(max_angle=180)


def test_rotate_images_direction_and_identity():
    img = torch.zeros(2, 1, 9, 9)
    img[:, 0, 4, 7] = 1.0  # right of the centre
    out = rotate_images(img, torch.tensor([0.0, 90.0]))
    assert torch.allclose(out[0], img[0], atol=1e-6)  # 0 degrees: unchanged
    # +90 degrees turns the content counter-clockwise on screen: right of centre -> above it
    peak = divmod(int(out[1, 0].argmax()), 9)
    assert peak == (1, 4)


def _write_celeba(root: Path, n: int = 7) -> np.ndarray:
    """A tiny CelebA in torchvision's layout; returns the landmark array (n, 10)."""
    from PIL import Image

    d = root / "celeba"
    (d / "img_align_celeba").mkdir(parents=True)
    rng = np.random.RandomState(0)
    marks = np.column_stack([rng.randint(40, 140, size=(n, 5)), rng.randint(60, 180, size=(n, 5))])
    marks = marks[:, [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]]  # x, y pairs
    partition = [0, 0, 0, 0, 1, 2, 2][:n]
    lines_l = [str(n), " ".join(CELEBA_LANDMARKS)]
    lines_p = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        color = (30 * i, 255 - 30 * i, 100)
        Image.new("RGB", (178, 218), color).save(d / "img_align_celeba" / name, quality=95)
        lines_l.append(name + " " + " ".join(str(v) for v in marks[i]))
        lines_p.append(f"{name} {partition[i]}")
    (d / "list_landmarks_align_celeba.txt").write_text("\n".join(lines_l) + "\n")
    (d / "list_eval_partition.txt").write_text("\n".join(lines_p) + "\n")
    return marks


def test_celeba_landmarks_from_a_tiny_fixture(tmp_path):
    marks = _write_celeba(tmp_path)
    d = celeba_landmarks(root=str(tmp_path), image_size=16, normalize=False, standardize_targets=False)
    assert d.train_x.shape == (4, 3, 16, 16) and d.test_x.shape == (2, 3, 16, 16)
    assert d.train_y.shape == (4, 10) and d.num_outputs == 10
    scale = np.tile([16 / 178, 16 / 218], 5)
    assert np.allclose(d.train_y.numpy(), marks[:4] * scale, atol=1e-4)
    assert np.allclose(d.test_y.numpy(), marks[5:] * scale, atol=1e-4)
    # pixels: the image colour in [0, 1], channels first (JPEG is lossy)
    assert torch.allclose(d.train_x[1].mean(dim=(1, 2)), torch.tensor([30, 225, 100]) / 255.0, atol=0.03)
    # the celeba folder itself works as root; train+valid adds the validation image
    both = celeba_landmarks(root=str(tmp_path / "celeba"), image_size=16, train_split="train+valid", max_test=1)
    assert both.train_x.shape[0] == 5 and both.test_x.shape[0] == 1
    _check_standardised(both)
    assert both.train_y.shape == (5, 10)
    capped = celeba_landmarks(root=str(tmp_path), image_size=16, max_train=2)
    assert capped.train_x.shape[0] == 2


def test_celeba_errors_name_the_key(tmp_path):
    with pytest.raises(DatasetError, match="list_landmarks_align_celeba.txt") as exc:
        celeba_landmarks(root=str(tmp_path))
    assert exc.value.key == "dataset.root"
    _write_celeba(tmp_path)
    (tmp_path / "celeba" / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DatasetError, match="000002.jpg"):
        celeba_landmarks(root=str(tmp_path), image_size=16)
    with pytest.raises(ConfigValueError, match="train_split"):
        celeba_landmarks(root=str(tmp_path), train_split="test")


def test_celeba_through_the_config(tmp_path):
    _write_celeba(tmp_path)
    cfg = compose("dataset=celeba-landmarks", f"dataset.root={tmp_path}", "dataset.image_size=16",
                  "noise=target-shift", "noise.rate=0.5", "model=cnn-small", "model.padding=2", "logger=none")
    from prl.engine import setup

    run = setup(cfg)
    assert run.data.train_y.shape == (4, 10)
    # a vector target is corrupted in every dimension: 2 of 4 rows, all 10 coordinates
    diff = (run.noisy_y - run.data.train_y).abs()
    assert int((diff > 0).all(dim=1).sum()) == 2 and int((diff > 0).any(dim=1).sum()) == 2
    assert run.clean_mask.tolist().count(True) == 2


# ============================================================================= corruptions

N = 20000


@pytest.fixture(scope="module")
def targets():
    rng = np.random.RandomState(123)
    return (rng.standard_normal(N) * 2.0 + 1.0).astype(np.float32)


ALL = [
    lambda seed=0: RandomTargets(0.3, seed),
    lambda seed=0: RandomTargets(0.3, seed, distribution="gaussian"),
    lambda seed=0: HeavyTailedTargets(0.3, seed, df=1.0),
    lambda seed=0: LinearAdversary(0.3, seed),
    lambda seed=0: ConstantShift(0.3, seed, shift=2.0),
]


@pytest.mark.parametrize("make", ALL, ids=["uniform", "gaussian", "cauchy", "linear", "shift"])
def test_exact_rate_seeded_and_the_rest_untouched(make, targets):
    x = np.random.RandomState(0).standard_normal((N, 5)).astype(np.float32)
    noise = make()
    noisy = noise.apply(targets, inputs=x)
    assert noisy.shape == targets.shape and noisy.dtype == np.float32
    changed = changed_rows(targets, noisy)
    assert changed.sum() == round(0.3 * N)
    assert np.array_equal(noisy[~changed], targets[~changed])  # bit-identical
    # which samples: RandomState(seed).choice(N, k, replace=False)
    chosen = np.sort(np.random.RandomState(0).choice(N, round(0.3 * N), replace=False))
    assert np.array_equal(np.flatnonzero(changed), chosen)
    assert np.array_equal(make().apply(targets, inputs=x), noisy)  # same seed, same targets
    assert not np.array_equal(make(seed=1).apply(targets, inputs=x), noisy)
    desc = noise.describe()
    assert desc["rate"] == 0.3 and desc["seed"] == 0 and desc["type"].startswith("target-")
    assert type(noise)(0.0).apply(targets, inputs=x).tolist() == targets.tolist()  # rate 0: a copy


def _corrupted(noise, targets, inputs=None):
    noisy = noise.apply(targets, inputs=inputs)
    changed = changed_rows(targets, noisy)
    return noisy[changed].astype(np.float64), targets[changed].astype(np.float64)


def test_random_uniform_over_the_target_range(targets):
    new, _ = _corrupted(RandomTargets(0.3), targets)
    lo, hi = float(targets.min()), float(targets.max())
    assert lo <= new.min() and new.max() <= hi
    assert stats.kstest(new, stats.uniform(lo, hi - lo).cdf).pvalue > 1e-3


def test_random_gaussian_with_the_target_moments(targets):
    new, _ = _corrupted(RandomTargets(0.3, distribution="gaussian"), targets)
    mean, std = float(targets.mean()), float(targets.std())
    assert stats.kstest(new, stats.norm(mean, std).cdf).pvalue > 1e-3


@pytest.mark.parametrize("df,scale", [(1.0, 1.0), (3.0, 0.5)])
def test_heavy_tailed_additive_student_t(targets, df, scale):
    new, old = _corrupted(HeavyTailedTargets(0.3, df=df, scale=scale), targets)
    z = (new - old) / (scale * float(targets.std()))
    assert stats.kstest(z, stats.t(df).cdf).pvalue > 1e-3
    assert stats.kstest(z, stats.norm.cdf).pvalue < 1e-6  # not Gaussian


def test_linear_adversary_is_one_linear_function_in_range(targets):
    x = np.random.RandomState(0).standard_normal((N, 5))
    new, old = _corrupted(LinearAdversary(0.3), targets, x)
    changed = changed_rows(targets, LinearAdversary(0.3).apply(targets, inputs=x))
    design = np.column_stack([x[changed], np.ones(changed.sum())])
    coef, *_ = np.linalg.lstsq(design, new, rcond=None)
    assert np.abs(design @ coef - new).max() < 1e-4  # exactly linear in the inputs
    assert abs(new.mean() - targets.mean()) < 0.1 and abs(new.std() - targets.std()) < 0.1  # in range
    assert abs(np.corrcoef(new, old)[0, 1]) < 0.05  # unrelated to the true targets
    with pytest.raises(ValueError, match="inputs"):
        LinearAdversary(0.3).apply(targets)


def test_linear_adversary_on_images_and_vector_targets():
    x = torch.randn(400, 1, 4, 4)
    y = np.random.RandomState(0).standard_normal((400, 3)).astype(np.float32)
    noisy = LinearAdversary(0.25).apply(y, inputs=x)
    changed = changed_rows(y, noisy)
    assert changed.sum() == 100
    assert (noisy[changed] != y[changed]).all()  # every dimension of a corrupted row


def test_constant_shift_in_std_units(targets):
    new, old = _corrupted(ConstantShift(0.3, shift=-1.5), targets)
    assert np.allclose(new - old, -1.5 * float(targets.std()), atol=1e-4)


@pytest.mark.parametrize("make,key", [
    (lambda: RandomTargets(1.0), "rate"),
    (lambda: RandomTargets(-0.1), "rate"),
    (lambda: RandomTargets(0.3, distribution="laplace"), "distribution"),
    (lambda: HeavyTailedTargets(0.3, df=0), "df"),
    (lambda: HeavyTailedTargets(0.3, scale=-1), "scale"),
    (lambda: ConstantShift(0.3, shift=0.0), "shift"),
    (lambda: CleanTargets(0.2), "rate"),
    (lambda: TailTrim(0.3), "quantile"),
    (lambda: TailTrim(0.9, mode="drop"), "mode"),
    (lambda: TailTrim(0.9, tails="left"), "tails"),
])
def test_bad_parameters_name_their_key(make, key):
    with pytest.raises(ConfigValueError) as exc:
        make()
    assert exc.value.key == key


def test_bad_noise_parameter_through_the_config(tmp_path):
    from prl.engine import train

    cfg = compose(*SHORT, "noise.distribution=laplace")
    with pytest.raises(ConfigError, match="noise.distribution") as exc:
        train(cfg, run_dir=str(tmp_path))
    assert "uniform, gaussian" in str(exc.value)
    assert not list(tmp_path.iterdir())  # nothing written


# ============================================================================= tail trimming


def test_tail_trim_remove_and_clip():
    y = np.concatenate([np.linspace(-1, 1, 98), [50.0, -40.0]]).astype(np.float32)
    keep, out, info = TailTrim(0.99, tails="upper").apply(y)
    assert not keep[98] and keep[99] and keep.sum() == 99 and out.shape == (99,)
    assert info["removed"] == 1 and np.isinf(info["lower"][0])
    keep, out, info = TailTrim(0.99).apply(y)
    assert keep.sum() == 98 and not keep[98:].any()
    keep, out, info = TailTrim(0.99, mode="clip").apply(y)
    assert keep.all() and out.shape == y.shape and info["removed"] == 0 and info["outside"] == 2
    assert out[98] == np.float32(info["upper"][0]) and out[99] == np.float32(info["lower"][0])
    assert np.array_equal(out[:98], y[:98])
    keep, out, _ = TailTrim(None).apply(y)
    assert keep.all() and np.array_equal(out, y)
    # vector targets: a row goes if any coordinate is outside
    yy = np.zeros((100, 2), dtype=np.float32)
    yy[:, 0] = np.arange(100)
    yy[0, 1] = 100.0
    keep, out, _ = TailTrim(0.95, tails="upper").apply(yy)  # bounds 94.05 and 0
    assert out.shape == (keep.sum(), 2) and np.array_equal(np.flatnonzero(keep), np.arange(1, 95))


def test_trim_training_set_keeps_data_consistent():
    d = diabetes()
    noisy = ConstantShift(0.2, shift=8.0).apply(d.train_y.numpy())
    clean_mask = torch.from_numpy(noisy == d.train_y.numpy())
    trimmed, y, mask, info = trim_training_set(TailTrim(0.8, tails="upper"), d, noisy, clean_mask)
    n = trimmed.train_x.shape[0]
    assert trimmed.train_y.shape == (n,) and y.shape == (n,) and mask.shape == (n,) and n == info["kept"]
    assert torch.equal(mask, torch.from_numpy(y == trimmed.train_y.numpy()))
    # shifted by 8 std, the corrupted targets are the top 20%: trimming there removes most of them
    assert info["rate_after_trim"] < 0.05
    assert trimmed.test_x is d.test_x
    with pytest.raises(ConfigValueError, match="regression"):
        from prl.data import digits

        dg = digits()
        trim_training_set(TailTrim(0.9), dg, dg.train_y.numpy(), torch.ones(len(dg.train_y), dtype=torch.bool))


def test_trim_end_to_end(tmp_path):
    cfg = compose(*SHORT)
    if "trim" not in cfg:
        pytest.skip("the runner has no trim option yet (train.py / config.py diff pending)")
    from prl.engine import train

    cfg = compose(*SHORT, "noise=target-shift", "noise.shift=8", "trim.quantile=0.75", "trim.tails=upper")
    summary = train(cfg, run_dir=str(tmp_path))
    trim = summary["noise"]["trim"]
    assert trim["removed"] == 354 - trim["kept"] and trim["rate_after_trim"] < 0.1
    labels = np.load(tmp_path / "labels.npz")
    assert labels["noisy"].shape == (trim["kept"],) == labels["clean"].shape
    with pytest.raises(ConfigError, match="trim"):
        train(compose("dataset=digits", "logger=none", "trim.quantile=0.9"), run_dir=str(tmp_path / "c"))


# ============================================================================= PRL-L on the squared error


def test_prl_l_keeps_the_smallest_autograd_loss_layer_gradients():
    from prl.algorithms import get
    from prl.losses import per_sample_loss
    from prl.models import MLP
    from prl.optim import adam

    torch.manual_seed(0)
    x = torch.randn(64, 6)
    y = torch.randn(64, 2)
    algo = get("prl-l")(model_fn=lambda: MLP((6,), 2, hidden=(16,)), optimizer_fn=adam, task="regression",
                        epsilon=0.25)
    out = algo.networks[0](x)
    out.retain_grad()
    per_sample_loss(out, y, "regression").sum().backward()
    norms = out.grad.norm(dim=1)  # d loss_i / d f(x_i), row by row
    assert torch.allclose(out.grad, (out - y).detach(), atol=1e-6)
    algo.networks[0].zero_grad()
    out = step(algo, x, y, 0.25)
    kept = out["kept"][0]
    assert kept.shape == (48,)
    assert set(kept.tolist()) == set(torch.argsort(norms)[:48].tolist())
    assert norms[kept].max() <= norms[torch.tensor([i for i in range(64) if i not in set(kept.tolist())])].min()


def test_prl_l_selects_like_the_trimmed_loss_for_squared_error():
    """||f(x) - y|| is monotone in 0.5 ||f(x) - y||^2: for MSE, PRL-L keeps what SPL keeps."""
    from prl.algorithms import get
    from prl.models import MLP
    from prl.optim import adam

    x, y = torch.randn(50, 4), torch.randn(50, 3)
    kept = []
    for name in ("prl-l", "spl"):
        torch.manual_seed(1)
        algo = get(name)(model_fn=lambda: MLP((4,), 3, hidden=(8,)), optimizer_fn=adam, task="regression",
                         epsilon=0.4)
        kept.append(step(algo, x, y, 0.4)["kept"][0])
    assert torch.equal(kept[0], kept[1])


# ============================================================================= end to end


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
