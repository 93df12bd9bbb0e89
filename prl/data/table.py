"""Your own table: a CSV (or Parquet) file with a label column or target columns.

``dataset=csv`` (``conf/dataset/csv.yaml``) builds :func:`table_dataset`; it is a plain function
and works the same from Python::

    from prl.data.table import table_dataset
    data = table_dataset("patients.csv", label="diagnosis", id="patient_id")

The task follows from which column argument is set: ``label`` (one column, classification) or
``targets`` (one column name or a list of names, regression); exactly one of them.

Conventions (the :class:`~prl.data.dataset.Data` contract):

* inputs: float32 ``(N, D)``.  Numeric feature columns (integers, floats, booleans) are z-scored
  per column with the *training* rows' mean and std (``standardize_inputs``); non-numeric
  (categorical) feature columns are one-hot encoded by scikit-learn's ``OneHotEncoder`` fitted on
  the training rows only (``handle_unknown="ignore"``: a category seen only in the test rows
  encodes as all zeros) and left as 0/1.  Numeric columns come first, then the one-hot columns;
  ``data.feature_names`` names each input column (``"city_Paris"`` for a one-hot column).
* classification: ``train_y`` / ``test_y`` int64 ``(N,)``; the sorted distinct *training* labels
  are mapped to ``0..C-1`` (numbers sorted as numbers, strings as strings) and ``classes`` holds
  their original values as strings.  A test label never seen in training is an error.
* regression: float32 targets, ``(N,)`` for one target column and ``(N, D)`` for several;
  z-scored per column with the training targets' mean and std (``standardize_targets``, on by
  default, as :mod:`prl.data.tabular` does), so a corruption given in "target std units" is in
  units of the z-scored targets and ``test_mse`` is in squared training standard deviations.
  ``classes`` holds the target column names.
* ``train_ids``: the ``id`` column's values of the training rows as strings (read as text from
  a CSV, so ``007`` stays ``007``), or ``None`` without an ``id`` column.
* ``name``: the file's name without its extensions (``patients`` for ``patients.csv.gz``).

Test rows: ``test_path`` (a second file with the same columns) or a fixed random split of
``path`` holding out ``test_fraction`` (default 0.2) with ``numpy.random.RandomState(split_seed)``
(:func:`prl.data.transforms.random_split`, as the built-in tables).

Errors (:class:`~prl.errors.DatasetError` / :class:`~prl.errors.ConfigValueError`) start with the
parameter at fault (the runner prefixes ``dataset.``): a missing file or column (with the columns
the file has), a missing value (naming the column and the first row; ``missing="impute"`` fills
them instead), a label column that looks like a regression target, a non-numeric target, a test
label never seen in training, a categorical column with too many distinct values.
"""

from __future__ import annotations

import logging
import os
from typing import List, Optional, Sequence, Union

import numpy as np
import pandas as pd

from prl.data.dataset import Data
from prl.data.table_columns import (
    MAX_CATEGORIES,
    PARQUET_SUFFIXES,
    table_suffixes,
    MAX_FLOAT_CLASSES,
    column_names,
    encode_features,
    encode_labels,
    label_values,
    refuse_missing,
    require_columns,
    target_values,
)
from prl.data.transforms import as_float32, check_cap, check_fraction, random_split, zscore
from prl.errors import ConfigValueError, DatasetError

__all__ = ["table_dataset", "read_table", "MAX_CATEGORIES", "MAX_FLOAT_CLASSES"]

log = logging.getLogger(__name__)

#: file extensions read as Parquet (anything else is read as CSV; ``.tsv`` as tab-separated)


# ----------------------------------------------------------------------------- reading


def _stem(path: str) -> str:
    base = os.path.basename(path)
    table, comp = table_suffixes(path)
    cut = len(table) + len(comp)
    return base[: len(base) - cut] if cut else base


def read_table(path: str, key: str = "path", text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The table in ``path`` as a DataFrame with string column names.

    Parquet when the name ends in ``.parquet`` / ``.pq`` (needs ``pyarrow`` or ``fastparquet``);
    otherwise CSV (``.tsv``: tab-separated; ``.gz`` / ``.bz2`` / ``.zip`` / ``.xz`` / ``.zst``
    compressed).  ``text_columns`` are read as text (an id column keeps its leading zeros).
    Raises :class:`DatasetError` with key ``key`` when the file is missing, unreadable or empty.
    """
    full = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(full):
        raise DatasetError(f"{key}: no file {full}", key)
    if os.path.isdir(full):
        raise DatasetError(f"{key}: {full} is a folder; give a CSV or Parquet file "
                           "(an image folder is dataset=imagefolder)", key)
    suffix, _ = table_suffixes(full)
    try:
        if suffix in PARQUET_SUFFIXES:
            try:
                frame = pd.read_parquet(full)
            except ImportError:
                raise DatasetError(
                    f"{key}: reading the Parquet file {full} needs pyarrow (or fastparquet), which is not "
                    "installed: pip install pyarrow", key) from None
            text = [c for c in text_columns if c in frame.columns]
            for c in text:
                frame[c] = frame[c].astype("string").astype(object).where(frame[c].notna(), None)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            frame = pd.read_csv(full, sep=sep, dtype={c: str for c in text_columns}, low_memory=False)
    except DatasetError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{key}: cannot read {full} as a {'Parquet' if suffix in PARQUET_SUFFIXES else 'CSV'} "
                           f"table ({first})", key) from None
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DatasetError(f"{key}: {full} has no data rows", key)
    return frame


def table_dataset(path: Optional[str] = None, label: Optional[str] = None,
                  targets: Optional[Union[str, List[str]]] = None,
                  features: Optional[Union[str, List[str]]] = None,
                  exclude: Optional[Union[str, List[str]]] = None,
                  id: Optional[str] = None, test_path: Optional[str] = None,
                  test_fraction: Optional[float] = None, split_seed: int = 0, missing: str = "error",
                  standardize_inputs: bool = True, standardize_targets: bool = True,
                  max_train: Optional[int] = None) -> Data:
    """A CSV or Parquet table as a :class:`~prl.data.dataset.Data` (see the module docstring).

    Args:
        path: the table (training rows, or all rows when split with ``test_fraction``).  CSV, or
            Parquet by extension (``.parquet`` / ``.pq``, needs ``pyarrow``); ``.tsv`` is
            tab-separated; compressed ``.gz`` etc. are read as such.
        label: the class column (classification): strings, integers, booleans, or floats with
            integer values (or at most ``MAX_FLOAT_CLASSES`` distinct values).
        targets: the target column(s) (regression): a name, giving ``(N,)`` targets, or a list of
            names, giving ``(N, D)`` (``(N,)`` for a list of one).  Numeric only.
        features: the input columns; default: every column except the label / targets, ``id``
            and ``exclude``.
        exclude: columns to leave out of the default ``features``.
        id: a column identifying each row; its training values (as strings) become
            ``train_ids``, written next to each sample in per-sample outputs.  Never an input.
        test_path: a second table with the test rows (same feature and label/target columns).
        test_fraction: without ``test_path``: the share of ``path``'s rows held out as test rows
            (default 0.2), chosen by ``split_seed``.  Setting both is an error.
        split_seed: the seed of that split (and of the ``max_train`` subset).
        missing: ``"error"`` (default): a missing feature value is an error naming the column and
            its first row; ``"impute"``: fill with the training rows' median (numeric columns) or
            most frequent value (categorical), scikit-learn's ``SimpleImputer``.  Missing labels,
            targets or ids are always errors.
        standardize_inputs: z-score the numeric feature columns with training statistics.
        standardize_targets: z-score the regression targets with the training targets' mean and
            std (per column).
        max_train: keep a random subset of this many training rows (the test rows do not change).

    Returns:
        ``Data(name=<file stem>, train_x/test_x float32 (N, D), train_y/test_y int64 (N,) or
        float32 (N,) / (N, D), task, num_classes, classes, train_ids)``, plus ``feature_names``
        (one name per input column) as an attribute.

    Raises:
        ConfigValueError: bad arguments (neither or both of label / targets, both test_path and
            test_fraction, an unknown ``missing`` mode).
        DatasetError: the file or a column is missing, a value is missing or infinite, a
            column does not fit the task, a test label is unseen in training; the message
            starts with the parameter at fault.
    """
    # -- arguments
    if path in (None, ""):
        raise ConfigValueError("path: set dataset.path=<a CSV or Parquet file>", "path")
    target_names = column_names(targets, "targets")
    if label is not None and target_names is not None:
        raise ConfigValueError(f"label={label} and dataset.targets={targets} are both set: give dataset.label for "
                               "classification or dataset.targets for regression, not both", "label")
    if label is None and not target_names:
        raise ConfigValueError("label: set dataset.label=<column> (classification) or dataset.targets=<column or "
                               "[columns]> (regression); neither is set", "label")
    if test_path not in (None, "") and test_fraction is not None:
        raise ConfigValueError(f"test_path={test_path} and dataset.test_fraction={test_fraction} are both set: the "
                               "test rows come from one or the other; give one", "test_path")
    if missing not in ("error", "impute"):
        raise ConfigValueError(f"missing must be 'error' or 'impute', got {missing!r}", "missing")
    max_train = check_cap(max_train, "max_train")
    test_path = None if test_path in (None, "") else str(test_path)
    if test_path is None:
        test_fraction = check_fraction(0.2 if test_fraction is None else test_fraction, "test_fraction")
    task = "classification" if label is not None else "regression"
    y_names = [str(label)] if label is not None else target_names
    y_key = "label" if label is not None else "targets"
    id = None if id in (None, "") else str(id)

    # -- files and columns
    path = os.path.abspath(os.path.expanduser(str(path)))
    text = [id] if id else []
    frame = read_table(path, "path", text)
    test_frame = read_table(test_path, "test_path", text) if test_path else None
    test_path = os.path.abspath(os.path.expanduser(test_path)) if test_path else None
    require_columns(frame, y_names, y_key, path, "path")
    if id:
        require_columns(frame, [id], "id", path, "path")
        if id in y_names:
            raise ConfigValueError(f"id: column {id!r} is also the {y_key}", "id")
    excluded = column_names(exclude, "exclude") or []
    require_columns(frame, excluded, "exclude", path, "path")
    feature_names = column_names(features, "features")
    if feature_names is None:
        feature_names = [c for c in frame.columns if c not in y_names and c != id and c not in excluded]
    else:
        require_columns(frame, feature_names, "features", path, "path")
        clash = [c for c in feature_names if c in y_names or c == id]
        if clash:
            what = "id" if clash[0] == id else y_key
            raise ConfigValueError(f"features lists the column {clash[0]!r}, which is the {what}; an input "
                                   "cannot also be what is predicted or the row id", "features")
        feature_names = [c for c in feature_names if c not in excluded]
    if not feature_names:
        raise DatasetError(f"features: no input column left in {path} (columns: "
                           f"{', '.join(repr(c) for c in frame.columns)})", "features")
    if test_frame is not None:
        require_columns(test_frame, y_names + feature_names, "test_path", test_path, "test_path")

    # -- the label / targets, then missing values (checked on whole files, so row numbers are the file's)
    refuse_missing(frame, y_names, y_key, path, f"every row needs a {y_key.rstrip('s')}: fill it in or drop the row")
    if task == "classification":
        label_values(frame[y_names[0]], y_names[0], path)  # refuses a float label column
    else:
        target_values(frame, y_names, path, "path")  # refuses a non-numeric target column
    if id:
        refuse_missing(frame, [id], "id", path, "every row needs an id: fill it in or drop the row")
    fix = ("fill them in, leave the column out (dataset.exclude=[{column}]), or set dataset.missing=impute "
           "(the median / most frequent value of the training rows)")
    if missing == "error":
        refuse_missing(frame, feature_names, "path", path, fix)
    if test_frame is not None:
        refuse_missing(test_frame, y_names, "test_path", test_path, f"every test row needs a {y_key.rstrip('s')}")
        if missing == "error":
            refuse_missing(test_frame, feature_names, "test_path", test_path, fix)

    # -- rows
    if test_frame is None:
        train_idx, test_idx = random_split(len(frame), test_fraction, split_seed, max_train)
        if len(test_idx) == 0:
            raise ConfigValueError(f"test_fraction={test_fraction} of {len(frame)} rows leaves no test row", "test_fraction")
        train, test = frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True)
    else:
        train_idx, _ = random_split(len(frame), 0.0, split_seed, max_train)
        train = frame if max_train is None else frame.iloc[train_idx].reset_index(drop=True)
        test = test_frame
    if len(train) == 0:
        raise DatasetError(f"path: no training rows left in {path}", "path")

    # -- outputs
    if task == "classification":
        y_train, y_test, classes = encode_labels(train[y_names[0]], test[y_names[0]], y_names[0], path, test_path)
        train_y, test_y = _long(y_train), _long(y_test)
        num_classes = len(classes)
    else:
        yt = target_values(train, y_names, path, "path")
        yv = target_values(test, y_names, test_path or path, "test_path" if test_path else "path")
        if standardize_targets:
            yt, yv = zscore(yt, yv)
        if len(y_names) == 1:
            yt, yv = yt[:, 0], yv[:, 0]
        train_y, test_y = as_float32(yt), as_float32(yv)
        classes, num_classes = list(y_names), None
    x_train, x_test, input_names = encode_features(train, test, feature_names, path, test_path,
                                                    missing == "impute", standardize_inputs)
    train_ids = None
    if id:
        train_ids = [str(v) for v in train[id].tolist()]
        if len(set(train_ids)) != len(train_ids):
            seen: set = set()
            dup = next(v for v in train_ids if v in seen or seen.add(v))
            log.warning("id column %r repeats values among the training rows (e.g. %r): per-sample outputs "
                        "will not tell those rows apart", id, dup)
    return Data(_stem(path), as_float32(x_train), train_y, as_float32(x_test), test_y, task=task,
                num_classes=num_classes, classes=classes, train_ids=train_ids, clean_known=False,
                feature_names=input_names)


def _long(a: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
