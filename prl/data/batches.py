"""The batch iterator of the training loop: slices of tensors already on the device."""

from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch import Tensor

__all__ = ["BatchIterator"]


class BatchIterator:
    """Shuffled mini-batches ``(x, y, index)`` sliced from tensors already on the device.

    The order of each epoch comes from ``generator`` (a CPU ``torch.Generator``): its state is
    the data-order state a checkpoint saves.  ``index`` holds dataset positions (device tensor):
    the row numbers, or ``positions[row]`` when the rows are a subset of a dataset.
    ``drop_last`` drops the final incomplete batch; ``max_steps`` caps the steps per epoch.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: Optional[torch.Generator] = None,
        max_steps: Optional[int] = None,
        positions: Optional[Tensor] = None,
    ):
        self.x, self.y = x, y
        #: the dataset position of each row (``index`` yields these); None: the row number
        self.positions = positions
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.max_steps = max_steps

    def __len__(self) -> int:
        n = self.x.shape[0]
        steps = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return min(steps, self.max_steps) if self.max_steps is not None else steps

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        n = self.x.shape[0]
        if not self.shuffle:  # evaluation: plain slices, no gather
            for step in range(len(self)):
                s, e = step * self.batch_size, min((step + 1) * self.batch_size, n)
                rows = torch.arange(s, e, device=self.x.device)
                yield self.x[s:e], self.y[s:e], rows if self.positions is None else self.positions[s:e]
            return
        order = torch.randperm(n, generator=self.generator).to(self.x.device, non_blocking=True)
        for step in range(len(self)):
            idx = order[step * self.batch_size : (step + 1) * self.batch_size]
            yield (self.x.index_select(0, idx), self.y.index_select(0, idx),
                   idx if self.positions is None else self.positions.index_select(0, idx))
