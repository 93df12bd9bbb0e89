"""Turning the columns of a table into tensors for :func:`prl.data.table.table_dataset`: class
labels, regression targets and features (scikit-learn encoders fitted on the training rows only),
and the checks that name the column, the row and the fix when a column does not fit.
"""

from __future__ import annotations

import difflib
import logging
import os
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from prl.data.transforms import zscore
from prl.errors import ConfigValueError, DatasetError

log = logging.getLogger("prl.data.table")

#: a categorical feature column with more distinct training values than this (or, from 100 training
#: rows on, more than one per two rows: an identifier or free text) is refused
MAX_CATEGORIES = 1000
#: a float label column with more distinct non-integer values than this is refused
MAX_FLOAT_CLASSES = 20
#: file extensions read as Parquet (anything else is read as CSV; ``.tsv`` as tab-separated)
PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")


def table_suffixes(path: str) -> tuple[str, str]:
    """``(table_suffix, compression_suffix)`` of ``path``, lower case (``".csv", ".gz"``)."""
    base = os.path.basename(path).lower()
    comp = next((s for s in _COMPRESSION_SUFFIXES if base.endswith(s)), "")
    base = base[: len(base) - len(comp)] if comp else base
    return os.path.splitext(base)[1], comp


# ----------------------------------------------------------------------------- column helpers


def column_names(value, key: str) -> Optional[list[str]]:
    """A column argument (a name, a list of names, a Hydra ListConfig) as a list of names."""
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return [str(value)]
    try:
        names = [str(v) for v in value]
    except TypeError:
        raise ConfigValueError(f"{key} must be a column name or a list of column names, got {value!r}", key) from None
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigValueError(f"{key} names the column {dup!r} twice", key)
    return names


def _columns_hint(frame: pd.DataFrame, wanted: str) -> str:
    cols = list(frame.columns)
    close = difflib.get_close_matches(wanted, cols, n=1)
    shown = ", ".join(repr(c) for c in cols[:30]) + (f", ... ({len(cols)} in all)" if len(cols) > 30 else "")
    return (f" (did you mean {close[0]!r}?)" if close else "") + f"; its columns: {shown}"


def require_columns(frame: pd.DataFrame, names: Sequence[str], key: str, file: str, file_key: str) -> None:
    for n in names:
        if n not in frame.columns:
            where = file if file_key == "path" else f"the test file {file}"
            raise DatasetError(f"{key}: no column {n!r} in {where}{_columns_hint(frame, n)}", key)


def _first_missing(col: pd.Series) -> tuple[int, int]:
    """``(count, position)``: how many values of ``col`` are missing and the first one's row."""
    na = col.isna().to_numpy()
    return int(na.sum()), int(np.argmax(na))


def _row_text(position: int, file: str) -> str:
    row = f"row {position + 1:,}"
    return row if table_suffixes(file)[0] in PARQUET_SUFFIXES else f"{row}, line {position + 2:,} of the file"


def refuse_missing(frame: pd.DataFrame, names: Sequence[str], key: str, file: str, fix: str) -> None:
    for n in names:
        count, pos = _first_missing(frame[n])
        if count:
            raise DatasetError(f"{key}: column {n!r} of {file} has {count:,} missing value{'s' * (count > 1)} "
                               f"(the first in {_row_text(pos, file)}); {fix.format(column=n)}", key)


def _non_numbers(col: pd.Series, k: int = 3) -> list:
    """Up to ``k`` distinct values of ``col`` that are not numbers (for messages)."""
    present = col[col.notna()]
    bad = present[pd.to_numeric(present, errors="coerce").isna()]
    return list(pd.unique(bad))[:k]


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)


def _as_float(col: pd.Series) -> np.ndarray:
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _as_text(col: pd.Series) -> np.ndarray:
    """A categorical column as an object array of strings, missing values as ``np.nan``."""
    out = col.astype(object).to_numpy(copy=True)
    na = col.isna().to_numpy()
    out[~na] = [str(v) for v in out[~na]]
    out[na] = np.nan
    return out


# ----------------------------------------------------------------------------- labels


def label_values(col: pd.Series, name: str, file: str) -> tuple[np.ndarray, str]:
    """The label column as comparable values and their kind (``int``, ``float``, ``bool``, ``str``)."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=bool), "bool"
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64), "int"
    if pd.api.types.is_float_dtype(col.dtype):
        v = _as_float(col)
        if np.all(v == np.round(v)) and np.all(np.abs(v) < 2 ** 53):
            return v.astype(np.int64), "int"
        distinct = np.unique(v)
        if len(distinct) > MAX_FLOAT_CLASSES:
            odd = distinct[distinct != np.round(distinct)][:3]
            eg = ", ".join(f"{x:g}" for x in odd)
            raise DatasetError(
                f"label: column {name!r} of {file} holds {len(distinct):,} distinct float values (e.g. {eg}), not "
                f"classes; did you mean dataset.targets={name} (regression)?", "label")
        return v, "float"
    return _as_text(col).astype(str), "str"


def _class_name(v, kind: str) -> str:
    return f"{v:g}" if kind == "float" else str(v)


def encode_labels(train: pd.Series, test: pd.Series, name: str, file: str, test_file: Optional[str]):
    values, kind = label_values(train, name, file)
    classes = np.unique(values)
    if len(classes) < 2:
        raise DatasetError(f"label: column {name!r} has a single value ({_class_name(classes[0], kind)}) in the "
                           f"training rows; classification needs at least two classes", "label")
    if len(classes) > max(100, len(values) // 10):
        log.warning("label column %r has %d distinct values for %d training rows; if it is a measurement, "
                    "use dataset.targets=%s (regression)", name, len(classes), len(values), name)
    y_train = np.searchsorted(classes, values)
    # the test labels, compared in the training labels' kind
    if kind == "str":
        tv = _as_text(test).astype(str)
        known = np.isin(tv, classes)
    else:  # numbers (a test file may hold a stray text value: it compares as unknown)
        tv = _as_float(test if _is_numeric(test) else pd.to_numeric(test, errors="coerce"))
        if kind in ("int", "bool"):
            exact = tv == np.round(tv)
            known = exact & np.isin(np.where(exact, tv, np.nan), classes.astype(np.float64))
            tv = np.where(known, tv, 0).astype(classes.dtype)
        else:
            known = np.isin(tv, classes)
    if not known.all():
        raw = list(pd.unique(test[~known]))
        shown = ", ".join(repr(v) for v in raw[:5]) + (f" and {len(raw) - 5} more" if len(raw) > 5 else "")
        names = ", ".join(_class_name(c, kind) for c in classes[:20]) + (", ..." if len(classes) > 20 else "")
        where = f"the test file ({test_file})" if test_file else "the test rows"
        fix = ("" if test_file else "; the class is too rare for this split: drop its rows, or change "
               "dataset.split_seed / dataset.test_fraction")
        verb = "holds" if test_file else "hold"
        raise DatasetError(f"label: {where} {verb} label value{'s' * (len(raw) > 1)} {shown} never seen in "
                           f"training (training classes: {names}); a model cannot predict "
                           f"{'them' if len(raw) > 1 else 'it'}{fix}", "label")
    y_test = np.searchsorted(classes, tv)
    return y_train.astype(np.int64), y_test.astype(np.int64), [_class_name(c, kind) for c in classes]


# ----------------------------------------------------------------------------- targets


def target_values(frame: pd.DataFrame, names: Sequence[str], file: str, file_key: str) -> np.ndarray:
    cols = []
    for n in names:
        col = frame[n]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            eg = _non_numbers(col) if not pd.api.types.is_bool_dtype(col.dtype) else [True, False]
            where = file if file_key == "path" else f"the test file {file}"
            raise DatasetError(
                f"targets: column {n!r} of {where} is not numeric (values such as "
                f"{', '.join(repr(v) for v in eg)}); a regression target must be a number in every row"
                f" (for classes use dataset.label={n})", "targets")
        v = _as_float(col)
        bad = ~np.isfinite(v) & ~np.isnan(v)
        if bad.any():
            raise DatasetError(f"targets: column {n!r} of {file} has infinite values (the first in "
                               f"{_row_text(int(np.argmax(bad)), file)})", "targets")
        cols.append(v)
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------- features


def encode_features(train: pd.DataFrame, test: pd.DataFrame, names: Sequence[str], file: str,
                     test_file: Optional[str], impute: bool, standardize: bool):
    """``(x_train, x_test, feature_names)``, float64, numeric block then one-hot block."""
    numeric = [n for n in names if _is_numeric(train[n])]
    categorical = [n for n in names if n not in numeric]
    blocks_tr, blocks_te, out_names = [], [], []
    if numeric:
        for n in numeric:
            if test_file is not None and not _is_numeric(test[n]):
                eg = ", ".join(repr(v) for v in _non_numbers(test[n]))
                raise DatasetError(f"test_path: column {n!r} is numeric in {file} but not in the test file "
                                   f"{test_file} (values such as {eg})", "test_path")
        xtr = np.stack([_as_float(train[n]) for n in numeric], axis=1)
        xte = np.stack([_as_float(test[n]) for n in numeric], axis=1) if len(test) else np.zeros((0, len(numeric)))
        for x, f, key in ((xtr, file, "path"), (xte, test_file or file, "test_path" if test_file else "path")):
            inf = np.isinf(x)
            if inf.any():
                r, c = np.argwhere(inf)[0]
                raise DatasetError(f"{key}: column {numeric[c]!r} of {f} has infinite values", key)
        if impute and (np.isnan(xtr).any() or np.isnan(xte).any()):
            from sklearn.impute import SimpleImputer

            empty = [n for n, allnan in zip(numeric, np.isnan(xtr).all(axis=0)) if allnan]
            if empty:
                raise DatasetError(f"missing: column {empty[0]!r} has no value in any training row, so "
                                   f"there is nothing to impute from; leave it out (dataset.exclude=[{empty[0]}])",
                                   "missing")
            imputer = SimpleImputer(strategy="median").fit(xtr)
            xtr, xte = imputer.transform(xtr), imputer.transform(xte) if len(xte) else xte
        if standardize:
            xtr, xte = zscore(xtr, xte)
        blocks_tr.append(xtr)
        blocks_te.append(xte)
        out_names += numeric
    if categorical:
        from sklearn.preprocessing import OneHotEncoder

        ctr = np.stack([_as_text(train[n]) for n in categorical], axis=1)
        cte = np.stack([_as_text(test[n]) for n in categorical], axis=1) if len(test) else \
            np.zeros((0, len(categorical)), dtype=object)
        for j, n in enumerate(categorical):
            present = ctr[:, j][~pd.isna(ctr[:, j])]
            distinct = len(set(present))
            if distinct > MAX_CATEGORIES or (len(present) >= 100 and distinct > len(present) / 2):
                raise DatasetError(
                    f"features: column {n!r} is not numeric and has {distinct:,} distinct values in "
                    f"{len(present):,} training rows: one-hot encoding would add {distinct:,} inputs (at most "
                    f"{MAX_CATEGORIES:,}, and fewer than one per two rows, are accepted). If it "
                    f"identifies rows, set dataset.id={n}; otherwise leave it out (dataset.exclude=[{n}]) or "
                    "convert it to numbers", "features")
            if impute and len(present) == 0:
                raise DatasetError(f"missing: column {n!r} has no value in any training row, so there is nothing "
                                   f"to impute from; leave it out (dataset.exclude=[{n}])", "missing")
        if impute:
            from sklearn.impute import SimpleImputer

            imputer = SimpleImputer(strategy="most_frequent", missing_values=np.nan).fit(ctr)
            ctr = imputer.transform(ctr)
            cte = imputer.transform(cte) if len(cte) else cte
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        encoder.fit(pd.DataFrame(ctr, columns=categorical))
        blocks_tr.append(encoder.transform(pd.DataFrame(ctr, columns=categorical)))
        blocks_te.append(encoder.transform(pd.DataFrame(cte, columns=categorical)) if len(cte)
                         else np.zeros((0, blocks_tr[-1].shape[1])))
        out_names += [str(n) for n in encoder.get_feature_names_out(categorical)]
        log.info("one-hot encoded %d categorical column(s) of %s into %d inputs: %s", len(categorical), file,
                 blocks_tr[-1].shape[1], ", ".join(categorical))
    return np.concatenate(blocks_tr, axis=1), np.concatenate(blocks_te, axis=1), out_names


# ----------------------------------------------------------------------------- the loader
