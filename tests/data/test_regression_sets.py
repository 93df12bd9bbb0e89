"""Regression datasets: diabetes, randhie, fmnist-rotation, celeba-landmarks (split, scaling, errors)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from prl.errors import ConfigValueError, DatasetError
from prl.data import CELEBA_LANDMARKS, celeba_landmarks, diabetes, fmnist_rotation, randhie, rotate_images

FMNIST = "/usr/share/datasets/fashion-mnist"

from ..conftest import compose


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
