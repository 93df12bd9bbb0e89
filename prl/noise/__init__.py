"""Corruption of the training supervision, each kind an object with its own seed.

* :mod:`prl.noise.labels` -- class-label noise from a row-stochastic transition matrix
  (clean, symmetric, pair-flip, class maps) or from a label file.
* :mod:`prl.noise.targets` -- corruptions of regression targets.
* :mod:`prl.noise.trim` -- tail trimming of regression targets before training.

``conf/noise/<name>.yaml`` names a class as ``_target_: prl.noise.<Class>``.
"""

from prl.noise.labels import (
    CIFAR10_ASYMMETRIC,
    ClassMap,
    Clean,
    LabelFile,
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
    "LabelNoise",
    "Clean",
    "Symmetric",
    "PairFlip",
    "ClassMap",
    "LabelFile",
    "sample_from_transition",
    "CIFAR10_ASYMMETRIC",
    "TargetNoise",
    "CleanTargets",
    "RandomTargets",
    "HeavyTailedTargets",
    "LinearAdversary",
    "ConstantShift",
    "TailTrim",
    "trim_training_set",
]
