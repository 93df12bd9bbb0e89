"""The data contract: what every dataset loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from torch import Tensor

__all__ = ["Data"]


@dataclass
class Data:
    """A dataset held in memory, as every loader returns it.

    * ``train_x`` / ``test_x``: float32 inputs, ``(N, C, H, W)`` for images (scaled to [0, 1],
      optionally standardised per channel with training statistics) or ``(N, D)`` for tables.
    * ``train_y`` / ``test_y``: the *clean* targets: int64 ``(N,)`` class indices in
      ``0..num_classes-1`` (classification) or float32 ``(N,)`` / ``(N, D)`` (regression).  The
      runner corrupts a copy of ``train_y``; ``test_y`` is never corrupted.
    * ``task``: ``"classification"`` or ``"regression"``; ``num_classes`` is ``None`` for
      regression.
    * ``classes``: the name of each class index (classification) or of each target column
      (regression); may be empty.
    * ``train_ids``: the user's own identifier of each training sample, in ``train_x`` order
      (a table's id column, an image's path relative to its folder); ``None``: the sample's
      position is its id.  Written next to each sample in per-sample outputs.
    * ``feature_names``: the name of each input column of a table (may be empty).
    * ``clean_known``: whether ``train_y`` are known to be correct (a curated benchmark): then a
      run reports how well it found the corruption it injected.  False for your own data, whose
      given labels may be wrong already.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    task: str = "classification"
    num_classes: Optional[int] = None
    classes: Sequence[str] = field(default_factory=list)
    train_ids: Optional[Sequence[str]] = None
    clean_known: bool = True
    feature_names: Sequence[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. ``(1, 28, 28)`` or ``(10,)``."""
        return tuple(self.train_x.shape[1:])

    @property
    def num_outputs(self) -> int:
        """Width of the model head: the class count, or the target dimension."""
        if self.task == "classification":
            return int(self.num_classes)
        return int(np.prod(self.train_y.shape[1:])) if self.train_y.dim() > 1 else 1

    def __repr__(self) -> str:
        return (
            f"Data({self.name}, task={self.task}, train={tuple(self.train_x.shape)}, "
            f"test={tuple(self.test_x.shape)}, num_outputs={self.num_outputs})"
        )
