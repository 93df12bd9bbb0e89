"""Corruption of the training supervision, each kind an object with its own seed.

* :mod:`prl.noise.labels` -- class-label noise from a row-stochastic transition matrix
  (clean, symmetric, pair-flip, class maps).
* :mod:`prl.noise.label_files` -- noisy labels read from a file (your own, CIFAR-10N / 100N).
* :mod:`prl.noise.targets` -- corruptions of regression targets.
* :mod:`prl.noise.trim` -- tail trimming of regression targets before training.

* :class:`prl.noise.AsGiven` -- ``noise=none``: the targets as given (your own data).

``conf/noise/<name>.yaml`` names a class as ``_target_: prl.noise.<Class>``.
"""

from prl.noise.base import AsGiven, Corruption, check_rate
from prl.noise.label_files import CifarN, LabelFile, load_label_container
from prl.noise.labels import (
    CIFAR10_ASYMMETRIC,
    CLASS_MAPS,
    ClassMap,
    Clean,
    LabelNoise,
    PairFlip,
    Symmetric,
    sample_from_transition,
)
from prl.noise.targets import (
    CleanTargets,
    ConstantShift,
    HeavyTailedTargets,
    LinearAdversary,
    RandomTargets,
    TargetNoise,
)
from prl.noise.trim import TailTrim, trim_training_set

__all__ = [
    "Corruption",
    "AsGiven",
    "check_rate",
    "LabelNoise",
    "Clean",
    "Symmetric",
    "PairFlip",
    "ClassMap",
    "LabelFile",
    "CifarN",
    "load_label_container",
    "sample_from_transition",
    "CIFAR10_ASYMMETRIC",
    "CLASS_MAPS",
    "TargetNoise",
    "CleanTargets",
    "RandomTargets",
    "HeavyTailedTargets",
    "LinearAdversary",
    "ConstantShift",
    "TailTrim",
    "trim_training_set",
]
