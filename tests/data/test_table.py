"""dataset=csv: prl.data.table on small CSV / Parquet files the tests write themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from prl.data.dataset import Data
from prl.data.table import table_dataset
from prl.data.transforms import random_split
from prl.errors import ConfigError, ConfigValueError, DatasetError

CONF = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "conf")


def frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    x1, x2 = rng.normal(5, 2, n), rng.uniform(0, 10, n)
    return pd.DataFrame({
        "pid": [f"p{i:03d}" for i in range(n)],
        "x1": x1,
        "x2": x2,
        "count": rng.randint(0, 5, n),
        "city": rng.choice(["Paris", "Rome", "Oslo"], n),
        "kind": np.where(x1 > 5, "cat", "dog"),
        "grade": rng.randint(0, 3, n) * 5,
        "y1": 3 * x1 - x2,
        "y2": x2 * 100,
    })


def write(df: pd.DataFrame, path) -> str:
    df.to_csv(path, index=False)
    return str(path)


# ----------------------------------------------------------------------------- classification


def test_classification_string_labels_ids_and_categorical_features(tmp_path):
    df = frame()
    p = write(df, tmp_path / "animals.csv")
    d = table_dataset(p, label="kind", id="pid", exclude=["y1", "y2", "grade"], test_fraction=0.25, split_seed=3)
    assert isinstance(d, Data) and d.name == "animals" and d.task == "classification"
    assert d.num_classes == 2 and list(d.classes) == ["cat", "dog"]
    tr, te = random_split(len(df), 0.25, 3)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    # 3 numeric (x1, x2, count), then city one-hot (3 values)
    assert d.train_x.shape == (len(tr), 6) and d.test_x.shape == (len(te), 6)
    assert d.feature_names == ["x1", "x2", "count", "city_Oslo", "city_Paris", "city_Rome"]
    assert d.train_ids == [f"p{i:03d}" for i in tr]
    np.testing.assert_array_equal(d.train_y.numpy(), (df.kind.to_numpy()[tr] == "dog").astype(int))
    np.testing.assert_array_equal(d.test_y.numpy(), (df.kind.to_numpy()[te] == "dog").astype(int))
    # numeric columns z-scored with the training rows' statistics
    x1 = df.x1.to_numpy()[tr]
    np.testing.assert_allclose(d.train_x[:, 0].numpy(), (x1 - x1.mean()) / x1.std(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.test_x[:, 0].numpy(), (df.x1.to_numpy()[te] - x1.mean()) / x1.std(), rtol=1e-5,
                               atol=1e-6)
    # one-hot columns stay 0/1, one per row
    onehot = d.train_x[:, 3:].numpy()
    assert set(np.unique(onehot)) == {0.0, 1.0} and (onehot.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(onehot.argmax(axis=1), pd.Categorical(df.city.to_numpy()[tr],
                                                                          ["Oslo", "Paris", "Rome"]).codes)


def test_one_hot_is_fitted_on_training_rows_only(tmp_path):
    train = frame(40)
    train["city"] = np.where(np.arange(40) % 2, "Paris", "Rome")
    test = frame(10, seed=1)
    test["city"] = ["Lima"] * 5 + ["Paris"] * 5  # Lima never seen in training
    d = table_dataset(write(train, tmp_path / "tr.csv"), label="kind", features=["x1", "city"],
                      test_path=write(test, tmp_path / "te.csv"))
    assert d.feature_names == ["x1", "city_Paris", "city_Rome"]
    np.testing.assert_array_equal(d.test_x[:5, 1:].numpy(), 0.0)  # unknown category: all zeros
    np.testing.assert_array_equal(d.test_x[5:, 1:].numpy(), [[1.0, 0.0]] * 5)


def test_integer_labels_sorted_as_numbers_and_kept_as_class_names(tmp_path):
    df = frame()
    df["grade"] = np.where(np.arange(len(df)) % 3 == 0, 10, np.where(np.arange(len(df)) % 3 == 1, 2, 100))
    d = table_dataset(write(df, tmp_path / "g.csv"), label="grade", features=["x1", "x2"])
    assert list(d.classes) == ["2", "10", "100"]
    tr, _ = random_split(len(df), 0.2, 0)
    np.testing.assert_array_equal(d.train_y.numpy(), pd.Series(df.grade.to_numpy()[tr]).map({2: 0, 10: 1, 100: 2}))


def test_float_labels_with_integer_values_are_classes(tmp_path):
    df = frame()
    df["grade"] = df.grade.astype(float)
    d = table_dataset(write(df, tmp_path / "f.csv"), label="grade", features=["x1"])
    assert list(d.classes) == ["0", "5", "10"]


# ----------------------------------------------------------------------------- regression


def test_regression_one_target_is_z_scored_with_training_statistics(tmp_path):
    df = frame(80)
    d = table_dataset(write(df, tmp_path / "r.csv"), targets="y1", features=["x1", "x2", "city"])
    tr, te = random_split(len(df), 0.2, 0)
    assert d.task == "regression" and d.num_classes is None and list(d.classes) == ["y1"]
    assert d.train_y.shape == (len(tr),) and d.train_y.dtype == torch.float32 and d.num_outputs == 1
    y = df.y1.to_numpy()
    m, s = y[tr].mean(), y[tr].std()
    np.testing.assert_allclose(d.train_y.numpy(), (y[tr] - m) / s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.test_y.numpy(), (y[te] - m) / s, rtol=1e-5, atol=1e-6)
    assert d.train_ids is None
    raw = table_dataset(str(tmp_path / "r.csv"), targets="y1", features=["x1"], standardize_targets=False)
    np.testing.assert_allclose(raw.train_y.numpy(), y[tr], rtol=1e-6)


def test_regression_several_targets(tmp_path):
    df = frame(50)
    d = table_dataset(write(df, tmp_path / "r.csv"), targets=["y1", "y2"], id="pid", exclude=["kind", "city"])
    assert d.train_y.shape == (40, 2) and d.test_y.shape == (10, 2) and d.num_outputs == 2
    assert list(d.classes) == ["y1", "y2"]
    assert d.feature_names == ["x1", "x2", "count", "grade"]  # no id, no targets
    np.testing.assert_allclose(d.train_y.mean(0).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.train_y.std(0, unbiased=False).numpy(), 1.0, atol=1e-5)


def test_test_path_gives_the_test_rows_and_max_train_a_subset(tmp_path):
    tr, te = frame(30), frame(12, seed=5)
    d = table_dataset(write(tr, tmp_path / "train.csv"), targets="y1", id="pid",
                      test_path=write(te, tmp_path / "test.csv"), exclude=["city", "kind"])
    assert d.train_x.shape[0] == 30 and d.test_x.shape[0] == 12 and d.name == "train"
    assert d.train_ids == list(tr.pid)
    m, s = tr.y1.mean(), tr.y1.std(ddof=0)
    np.testing.assert_allclose(d.test_y.numpy(), (te.y1 - m) / s, rtol=1e-5, atol=1e-6)
    sub = table_dataset(str(tmp_path / "train.csv"), targets="y1", id="pid", test_path=str(tmp_path / "test.csv"),
                        exclude=["city", "kind"], max_train=10)
    assert sub.train_x.shape[0] == 10 and sub.test_x.shape[0] == 12 and set(sub.train_ids) < set(tr.pid)


def test_id_column_keeps_leading_zeros(tmp_path):
    df = frame(20)
    df["pid"] = [f"{i:04d}" for i in range(20)]
    d = table_dataset(write(df, tmp_path / "z.csv"), label="kind", id="pid", features=["x1"], test_fraction=0.5)
    assert all(len(i) == 4 for i in d.train_ids)


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    df = frame()
    df.to_parquet(tmp_path / "t.parquet", index=False)
    write(df, tmp_path / "t.csv")
    a = table_dataset(str(tmp_path / "t.parquet"), label="kind", id="pid", exclude=["y1", "y2"])
    b = table_dataset(str(tmp_path / "t.csv"), label="kind", id="pid", exclude=["y1", "y2"])
    assert a.name == "t" and a.train_ids == b.train_ids and a.feature_names == b.feature_names
    torch.testing.assert_close(a.train_x, b.train_x)
    torch.testing.assert_close(a.test_y, b.test_y)


def test_parquet_without_an_engine_names_the_package(tmp_path, monkeypatch):
    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    open(tmp_path / "t.parquet", "wb").write(b"PAR1")
    with pytest.raises(DatasetError) as err:
        table_dataset(str(tmp_path / "t.parquet"), label="kind")
    assert str(err.value).startswith("path:") and "pip install pyarrow" in str(err.value)


# ----------------------------------------------------------------------------- errors


def raises(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc) as err:
        fn(*args, **kwargs)
    msg = str(err.value)
    for m in ([match] if isinstance(match, str) else match):
        assert m in msg, msg
    return err.value


def test_argument_errors_name_the_keys(tmp_path):
    p = write(frame(), tmp_path / "a.csv")
    e = raises(ConfigValueError, ["label", "targets", "neither"], table_dataset, p)
    assert e.key == "label"
    raises(ConfigValueError, ["label=kind", "dataset.targets=y1", "both"], table_dataset, p, label="kind", targets="y1")
    e = raises(ConfigValueError, ["test_path=", "dataset.test_fraction=0.3"], table_dataset, p, label="kind",
               test_path=p, test_fraction=0.3)
    assert e.key == "test_path"
    raises(ConfigValueError, "missing must be", table_dataset, p, label="kind", missing="drop")
    raises(ConfigValueError, "test_fraction must be in (0, 1)", table_dataset, p, label="kind", test_fraction=1.5)
    raises(ConfigValueError, ["features", "'kind'"], table_dataset, p, label="kind", features=["x1", "kind"])


def test_missing_file_and_columns(tmp_path):
    e = raises(DatasetError, ["path: no file", "nope.csv"], table_dataset, str(tmp_path / "nope.csv"), label="y")
    assert e.key == "path"
    p = write(frame(), tmp_path / "a.csv")
    e = raises(DatasetError, ["label: no column 'knd'", "did you mean 'kind'", "'x1'"], table_dataset, p, label="knd")
    assert e.key == "label"
    raises(DatasetError, ["targets: no column 'y3'"], table_dataset, p, targets=["y1", "y3"])
    raises(DatasetError, ["features: no column 'x9'"], table_dataset, p, label="kind", features=["x1", "x9"])
    raises(DatasetError, ["id: no column 'ID'"], table_dataset, p, label="kind", id="ID")
    test = frame(10).drop(columns=["x2"])
    raises(DatasetError, ["test_path: no column 'x2'", "te.csv"], table_dataset, p, label="kind",
           test_path=write(test, tmp_path / "te.csv"))


def test_missing_values_are_an_error_naming_column_and_row_or_imputed(tmp_path):
    df = frame(40)
    df.loc[7, "x2"] = np.nan
    df.loc[[3, 9], "city"] = None
    p = write(df, tmp_path / "m.csv")
    e = raises(DatasetError, ["path:", "'x2'", "1 missing value", "row 8", "line 9", "dataset.missing=impute"],
               table_dataset, p, label="kind", features=["x1", "x2", "city"])
    assert e.key == "path"
    raises(DatasetError, ["'city'", "2 missing values", "row 4"], table_dataset, p, label="kind",
           features=["x1", "city"])
    d = table_dataset(p, label="kind", features=["x2", "city"], missing="impute", standardize_inputs=False,
                      test_fraction=0.25)
    tr, te = random_split(40, 0.25, 0)
    pos = {int(r): i for i, r in enumerate(tr)}
    assert 7 in pos  # row 7 is a training row: imputed with the training rows' median
    assert d.train_x[pos[7], 0].item() == pytest.approx(np.nanmedian(df.x2.to_numpy()[tr]), rel=1e-6)
    assert not torch.isnan(d.train_x).any() and not torch.isnan(d.test_x).any()
    assert (d.train_x[:, 1:].sum(1) == 1).all()  # imputed city is one of the known cities


def test_missing_label_or_target_is_always_an_error(tmp_path):
    df = frame(30)
    df.loc[4, "kind"] = None
    df.loc[5, "y1"] = np.nan
    p = write(df, tmp_path / "m.csv")
    raises(DatasetError, ["label:", "'kind'", "row 5"], table_dataset, p, label="kind", missing="impute")
    raises(DatasetError, ["targets:", "'y1'", "row 6"], table_dataset, p, targets="y1", missing="impute")


def test_non_numeric_target_for_regression(tmp_path):
    p = write(frame(), tmp_path / "a.csv")
    e = raises(DatasetError, ["targets: column 'kind'", "not numeric", "'cat'", "dataset.label=kind"],
               table_dataset, p, targets="kind")
    assert e.key == "targets"
    df = frame()
    df["y1"] = df.y1.astype(str)
    df.loc[3, "y1"] = "n/a?"
    raises(DatasetError, ["targets: column 'y1'", "'n/a?'"], table_dataset, write(df, tmp_path / "b.csv"),
           targets="y1")


def test_float_label_for_classification(tmp_path):
    p = write(frame(200), tmp_path / "a.csv")
    e = raises(DatasetError, ["label: column 'y1'", "200 distinct float values", "dataset.targets=y1"],
               table_dataset, p, label="y1")
    assert e.key == "label"


def test_unknown_test_label(tmp_path):
    train, test = frame(30), frame(10, seed=2)
    test.loc[2, "kind"] = "bird"
    e = raises(DatasetError, ["label:", "'bird'", "never seen in training", "te.csv", "cat, dog"],
               table_dataset, write(train, tmp_path / "tr.csv"), label="kind", features=["x1"],
               test_path=write(test, tmp_path / "te.csv"))
    assert e.key == "label"


def test_too_many_categories_points_at_id(tmp_path):
    df = frame(300)
    df["pid"] = [f"row-{i}" for i in range(300)]
    raises(DatasetError, ["features: column 'pid'", "240 distinct values", "dataset.id=pid"], table_dataset,
           write(df, tmp_path / "a.csv"), label="kind")
    df = frame(1500)
    df["pid"] = [f"row-{i % 1200}" for i in range(1500)]
    raises(DatasetError, ["features: column 'pid'", "dataset.exclude=[pid]"], table_dataset,
           write(df, tmp_path / "b.csv"), label="kind", features=["x1", "pid"])


# ----------------------------------------------------------------------------- the config


def compose(*overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return hydra_compose(config_name="config", overrides=["model=mlp", *overrides])


def test_hydra_config_composes_and_keys_are_accepted(tmp_path):
    import prl.config
    import prl.data.table

    cfg = compose("dataset=csv", "dataset.path=/x.csv", "dataset.label=y")
    prl.config.check_node(cfg.dataset, prl.data.table.table_dataset, "dataset")
    cfg = compose("dataset=csv", "dataset.path=/x.csv", "dataset.targets=[a,b]", "dataset.features=[c,d]",
                  "dataset.exclude=[e]", "dataset.id=i", "dataset.test_path=/t.csv", "dataset.missing=impute",
                  "dataset.max_train=10")
    prl.config.check_node(cfg.dataset, prl.data.table.table_dataset, "dataset")


def test_build_returns_data_and_prefixes_errors(tmp_path):
    from prl.config import build

    p = write(frame(), tmp_path / "a.csv")
    cfg = compose("dataset=csv", f"dataset.path={p}", "dataset.targets=[y1,y2]", "dataset.id=pid")
    d = build(cfg.dataset, "dataset")
    assert isinstance(d, Data) and d.train_y.shape == (48, 2) and len(d.train_ids) == 48
    cfg = compose("dataset=csv", f"dataset.path={p}", "dataset.label=knd")
    with pytest.raises(ConfigError) as err:
        build(cfg.dataset, "dataset")
    assert str(err.value).startswith("dataset.label: no column 'knd'") and err.value.key == "dataset.label"


def test_unset_path_is_reported_by_the_checker():
    import prl.config

    cfg = compose("dataset=csv", "dataset.label=y")
    with pytest.raises(ConfigError) as err:
        prl.config.check(cfg)
    assert "dataset.path must be set" in str(err.value)
