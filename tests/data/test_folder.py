"""dataset=imagefolder: prl.data.folder on small image folders the tests write with PIL."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import torch
from PIL import Image

from prl.data.dataset import Data
from prl.data.folder import image_folder
from prl.errors import ConfigError, ConfigValueError, DatasetError

CONF = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "conf")
COLOURS = {"blue": (0, 0, 255), "green": (0, 200, 0), "red": (255, 0, 0)}


def make_folder(root, per_class=8, layout="flat", ext="png", size=8):
    """``root/<class>/<i>.<ext>`` (or ``root/train|test/<class>/...``): squares of the class colour."""
    rng = np.random.RandomState(0)
    dirs = [("", per_class)] if layout == "flat" else [("train", per_class), ("test", max(1, per_class // 2))]
    for sub, n in dirs:
        for name, colour in COLOURS.items():
            d = os.path.join(root, sub, name)
            os.makedirs(d, exist_ok=True)
            for i in range(n):
                a = np.clip(np.asarray(colour) + rng.randint(-10, 11, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(a).save(os.path.join(d, f"{i:02d}.{ext}"))
    return str(root)


def caches(root):
    return sorted(glob.glob(os.path.join(root, ".prl-cache-*")))


def test_flat_layout_split_shapes_labels_and_ids(tmp_path):
    root = make_folder(tmp_path / "squares", per_class=10)
    d = image_folder(root, size=8, test_fraction=0.3, split_seed=1)
    assert isinstance(d, Data) and d.name == "squares" and d.task == "classification"
    assert list(d.classes) == ["blue", "green", "red"] and d.num_classes == 3
    assert d.train_x.shape == (21, 3, 8, 8) and d.test_x.shape == (9, 3, 8, 8)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert 0.0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1.0
    assert len(d.train_ids) == 21 and d.skipped == []
    for x, y, rel in zip(d.train_x, d.train_y, d.train_ids):
        cls, name = rel.split("/")
        assert d.classes[int(y)] == cls and name.endswith(".png")
        # the mean colour is the class colour
        np.testing.assert_allclose(x.mean(dim=(1, 2)).numpy() * 255, COLOURS[cls], atol=6)
        ref = np.asarray(Image.open(os.path.join(root, rel)), dtype=np.float32).transpose(2, 0, 1) / 255
        np.testing.assert_allclose(x.numpy(), ref, atol=1e-6)  # same size: no resampling


def test_train_test_layout_resize_and_grayscale(tmp_path):
    root = make_folder(tmp_path / "split", per_class=6, layout="split", ext="jpg", size=12)
    d = image_folder(root, size=5, grayscale=True)
    assert d.train_x.shape == (18, 1, 5, 5) and d.test_x.shape == (9, 1, 5, 5)
    assert d.train_ids[0] == "train/blue/00.jpg" and all(i.startswith("train/") for i in d.train_ids)
    np.testing.assert_array_equal(d.test_y.numpy(), np.repeat([0, 1, 2], 3))
    with pytest.raises(ConfigValueError) as err:
        image_folder(root, size=5, test_fraction=0.2)
    assert str(err.value).startswith("test_fraction=0.2") and "train/ and test/" in str(err.value)


def test_normalize_uses_training_statistics(tmp_path):
    root = make_folder(tmp_path / "n", per_class=6)
    d = image_folder(root, size=8, normalize=True)
    m = d.train_x.mean(dim=(0, 2, 3))
    s = d.train_x.std(dim=(0, 2, 3))
    np.testing.assert_allclose(m.numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(s.numpy(), 1.0, atol=1e-4)


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    root = make_folder(tmp_path / "e", per_class=4)
    os.makedirs(os.path.join(root, "purple"))
    open(os.path.join(root, "purple", "notes.txt"), "w").write("not an image")
    with pytest.raises(DatasetError) as err:
        image_folder(root, size=8)
    assert str(err.value).startswith("root: class folder") and os.path.join(root, "purple") in str(err.value)
    assert err.value.key == "root"


def test_missing_root_and_no_classes(tmp_path):
    with pytest.raises(DatasetError, match="root: no folder"):
        image_folder(str(tmp_path / "nope"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(DatasetError, match="root: no class folders"):
        image_folder(str(tmp_path / "empty"))
    with pytest.raises(ConfigValueError, match="root: set dataset.root"):
        image_folder()


def corrupt(root, rel="green/03.png"):
    path = os.path.join(root, rel)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n this is not really a png")
    return path


def test_corrupt_image_is_an_error_naming_the_file_and_writes_no_cache(tmp_path):
    root = make_folder(tmp_path / "c", per_class=5)
    bad = corrupt(root)
    with pytest.raises(DatasetError) as err:
        image_folder(root, size=8)
    msg = str(err.value)
    assert msg.startswith("root: 1 image cannot be read") and bad in msg and "dataset.skip_unreadable=true" in msg
    assert caches(root) == []


def test_skip_unreadable_lists_the_files(tmp_path, caplog):
    root = make_folder(tmp_path / "s", per_class=5)
    corrupt(root)
    truncated = os.path.join(root, "red", "01.png")
    raw = open(truncated, "rb").read()
    open(truncated, "wb").write(raw[: len(raw) // 2])
    with caplog.at_level("WARNING", logger="prl.data.folder"):
        d = image_folder(root, size=8, skip_unreadable=True, test_fraction=0.2)
    assert [p for p, _ in d.skipped] == ["green/03.png", "red/01.png"]
    assert "green/03.png" in caplog.text and "red/01.png" in caplog.text
    assert d.train_x.shape[0] + d.test_x.shape[0] == 13
    assert "green/03.png" not in d.train_ids
    # the cache remembers them: the same list again, and the error without skip_unreadable
    assert len(caches(root)) == 1
    again = image_folder(root, size=8, skip_unreadable=True, test_fraction=0.2)
    assert again.skipped == d.skipped and torch.equal(again.train_x, d.train_x)
    with pytest.raises(DatasetError, match="green/03.png"):
        image_folder(root, size=8)


def test_cache_is_bit_for_bit_and_skips_decoding(tmp_path, monkeypatch):
    import PIL.Image

    root = make_folder(tmp_path / "k", per_class=8, ext="jpg")
    first = image_folder(root, size=6, normalize=True)
    assert len(caches(root)) == 1 and caches(root)[0].endswith(".npz")

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    monkeypatch.setattr(PIL.Image, "open", no_decode)
    second = image_folder(root, size=6, normalize=True)
    for a, b in ((first.train_x, second.train_x), (first.test_x, second.test_x), (first.train_y, second.train_y),
                 (first.test_y, second.test_y)):
        assert torch.equal(a, b)
    assert first.train_ids == second.train_ids and first.classes == second.classes
    # other options: another cache (so here a decode)
    with pytest.raises(DatasetError, match="decoded although"):
        image_folder(root, size=7)
    assert len(caches(root)) == 1  # nothing written when decoding fails
    monkeypatch.undo()
    assert image_folder(root, size=6, cache=False).train_x.shape[0] == first.train_x.shape[0]


def test_changed_file_invalidates_the_cache(tmp_path, monkeypatch):
    import PIL.Image

    root = make_folder(tmp_path / "v", per_class=6)
    first = image_folder(root, size=8, test_fraction=0.5)
    old = caches(root)
    path = os.path.join(root, first.train_ids[0])
    Image.fromarray(np.full((8, 8, 3), 128, dtype=np.uint8)).save(path)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    opened = []
    real_open = PIL.Image.open
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    second = image_folder(root, size=8, test_fraction=0.5)
    assert len(opened) == 18  # decoded again
    np.testing.assert_allclose(second.train_x[0].numpy(), 128 / 255, atol=1e-6)
    assert not torch.equal(first.train_x, second.train_x)
    new = caches(root)
    assert len(new) == 1 and new != old  # the stale cache is replaced
    # an added image also invalidates it
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(os.path.join(root, "red", "99.png"))
    opened.clear()
    third = image_folder(root, size=8, test_fraction=0.5)
    assert len(opened) == 19 and third.train_x.shape[0] + third.test_x.shape[0] == 19


# ----------------------------------------------------------------------------- the config


def compose(*overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def test_hydra_config_composes_checks_and_builds(tmp_path):
    import prl.config
    import prl.data.folder
    from prl.config import build

    root = make_folder(tmp_path / "h", per_class=5)
    cfg = compose("dataset=imagefolder", f"dataset.root={root}", "dataset.size=8", "dataset.grayscale=true",
                  "dataset.skip_unreadable=true", "dataset.test_fraction=0.4", "dataset.normalize=true")
    prl.config.check_node(cfg.dataset, prl.data.folder.image_folder, "dataset")
    d = build(cfg.dataset, "dataset")
    assert isinstance(d, Data) and d.train_x.shape == (9, 1, 8, 8) and d.test_x.shape == (6, 1, 8, 8)
    os.makedirs(os.path.join(root, "zzz"))
    with pytest.raises(ConfigError) as err:
        build(cfg.dataset, "dataset")
    assert str(err.value).startswith("dataset.root: class folder") and err.value.key == "dataset.root"


def test_val_folder_is_the_test_split(tmp_path):
    root = make_folder(tmp_path / "tv", per_class=4, layout="split")
    os.rename(os.path.join(root, "test"), os.path.join(root, "val"))
    d = image_folder(root, size=8)
    assert d.train_x.shape[0] == 12 and d.test_x.shape[0] == 6


def test_unwritable_cache_only_warns(tmp_path, monkeypatch, caplog):
    import tempfile

    root = make_folder(tmp_path / "ro", per_class=4)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with caplog.at_level("WARNING", logger="prl.data.folder"):
        d = image_folder(root, size=8)
    assert d.train_x.shape[0] + d.test_x.shape[0] == 12
    assert "could not write the image cache" in caplog.text and caches(root) == []
