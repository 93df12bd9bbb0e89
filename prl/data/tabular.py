"""Tabular regression datasets bundled with scikit-learn and statsmodels (offline).

Each loader returns a :class:`~prl.data.dataset.Data` with ``task="regression"``: float32 inputs
``(N, D)`` and targets ``(N,)``.  A fixed random split (``numpy.random.RandomState(split_seed)``,
``test_fraction`` held out); inputs z-scored per column with *training* statistics
(``standardize_inputs``); targets z-scored with the *clean training* targets' mean and std
(``standardize_targets``, on by default), so a corruption given "in target std units" is in
units of the z-scored targets and ``test_mse`` is in squared training standard deviations
(1.0 is about what predicting the training mean scores).

====================  ===========================================  ===============  ==========================
``dataset=``          source                                       one input        one target
====================  ===========================================  ===============  ==========================
``diabetes``          scikit-learn's bundled diabetes (442 rows)   ``(10,)``        ``()`` disease progression
``randhie``           statsmodels' bundled RAND HIE (20,190 rows)  ``(9,)``         ``()`` ``mdvis`` (visits)
====================  ===========================================  ===============  ==========================
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from prl.data.dataset import Data
from prl.data.transforms import as_float32, check_cap, check_fraction, random_split, zscore
from prl.errors import DatasetError

__all__ = ["diabetes", "randhie"]

REGRESSION = "regression"


def _tabular(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float, split_seed: int,
             standardize_inputs: bool, standardize_targets: bool, max_train: Optional[int] = None) -> Data:
    test_fraction = check_fraction(test_fraction, "test_fraction")
    max_train = check_cap(max_train, "max_train")
    train, test = random_split(len(y), test_fraction, split_seed, max_train)
    x_tr, x_te = x[train].astype(np.float64), x[test].astype(np.float64)
    y_tr, y_te = y[train].astype(np.float64), y[test].astype(np.float64)
    if standardize_inputs:
        x_tr, x_te = zscore(x_tr, x_te)
    if standardize_targets:
        y_tr, y_te = zscore(y_tr, y_te)
    return Data(name, as_float32(x_tr), as_float32(y_tr), as_float32(x_te), as_float32(y_te), task=REGRESSION,
                num_classes=None)


def diabetes(test_fraction: float = 0.2, split_seed: int = 0, standardize_inputs: bool = True,
             standardize_targets: bool = True) -> Data:
    """scikit-learn's bundled diabetes data: 442 patients, 10 features, one target.

    The target is a measure of disease progression one year after baseline (25..346).  A fixed
    random split (``split_seed``) holds out ``test_fraction`` (default 20%: 354 train / 88 test).
    Inputs ``(N, 10)`` and targets ``(N,)`` are z-scored with training statistics (see the
    module docstring).  Needs ``model=mlp``.
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return _tabular("diabetes", bunch.data, bunch.target, test_fraction, split_seed,
                    standardize_inputs, standardize_targets)


def randhie(test_fraction: float = 0.2, split_seed: int = 0, log1p_target: bool = False,
            standardize_inputs: bool = True, standardize_targets: bool = True,
            max_train: Optional[int] = None) -> Data:
    """statsmodels' bundled RAND Health Insurance Experiment data: 20,190 person-years.

    Target: ``mdvis``, the number of outpatient visits (a long-tailed count: median 1, 99th
    percentile 21, max 77); ``log1p_target=true`` predicts ``log(1 + mdvis)`` instead.  Inputs:
    the 9 covariates ``lncoins, idp, lpi, fmde, physlm, disea, hlthg, hlthf, hlthp``.  A fixed
    random split (``split_seed``) holds out ``test_fraction`` (default 20%: 16,152 / 4,038);
    ``max_train`` keeps a random subset of that many training rows (same split, same test
    set).  Inputs ``(N, 9)``
    and targets ``(N,)`` are z-scored with training statistics.  Needs ``model=mlp`` and the
    ``statsmodels`` package.
    """
    try:
        from statsmodels.datasets import randhie as source
    except ImportError:
        raise DatasetError("dataset=randhie needs statsmodels, which bundles the data: pip install statsmodels",
                           "dataset") from None
    frame = source.load_pandas()
    x = frame.exog.to_numpy(dtype=np.float64)
    y = frame.endog.to_numpy(dtype=np.float64).reshape(-1)
    if log1p_target:
        y = np.log1p(y)
    return _tabular("randhie", x, y, test_fraction, split_seed, standardize_inputs, standardize_targets,
                    max_train)
