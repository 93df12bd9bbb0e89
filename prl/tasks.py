"""Tasks: what differs between class labels and regression targets, in one object each.

A :class:`Task` owns the per-sample loss, the PRL score (the loss-layer gradient norm), the test
metrics and the primary one, what "corrupted" means for a target, and how an epoch is
summarised in one log line.  Code that needs any of these asks ``get_task(data.task)`` instead
of comparing task strings.

=================  ==================================  ====================================
                   ``classification``                  ``regression``
=================  ==================================  ====================================
targets            int64 ``(N,)`` class indices        float32 ``(N,)`` or ``(N, D)``
per-sample loss    cross-entropy of the logits         ``0.5 * ||f(x) - y||^2``
PRL score          ``||softmax(z) - onehot(y)||``      ``||f(x) - y||``
corrupted sample   ``noisy != clean``                  any output dimension changed
test metrics       ``test_accuracy`` (top-1, %)        ``test_mse``, ``test_mae`` (per output
                                                       dimension, averaged over dimensions)
primary metric     ``test_accuracy``, higher is better ``test_mse``, lower is better
=================  ==================================  ====================================
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from prl import losses

__all__ = ["Task", "Classification", "Regression", "TASKS", "get_task"]


class Task:
    """The task-specific pieces of a run; see the module docstring."""

    name: ClassVar[str] = ""
    #: the key of the primary test metric in ``metrics.jsonl`` and whether higher is better
    primary: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    #: test metrics :meth:`test_metrics` returns, in order
    test_keys: ClassVar[tuple[str, ...]] = ()
    #: the noise options that corrupt this task's targets (for error messages)
    noise_options: ClassVar[str] = ""

    def per_sample_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Per-sample loss ``(N,)`` (:func:`prl.losses.per_sample_loss`)."""
        return losses.per_sample_loss(output, target, self.name)

    def score(self, output: Tensor, target: Tensor) -> Tensor:
        """The PRL-L score ``(N,)``: the loss-layer gradient norm (no autograd graph)."""
        return losses.loss_layer_grad_norm(output, target, self.name)

    def changed(self, noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
        """bool ``(N,)``: which training targets the noise changed."""
        raise NotImplementedError

    def test_sums(self, output: Tensor, target: Tensor) -> Tensor:
        """Sums over the batch of what :meth:`test_metrics` averages, float64 ``(len(test_keys),)``."""
        raise NotImplementedError

    def test_metrics(self, sums: Any, count: int) -> dict[str, float]:
        """``{key: value}`` from the summed :meth:`test_sums` of ``count`` test samples."""
        return {k: float(v) / max(count, 1) for k, v in zip(self.test_keys, sums)}

    def describe_metric(self, record: dict) -> str:
        """The primary metric of an epoch record, for the one-line log."""
        raise NotImplementedError

    def num_outputs(self, data: Any) -> int:
        """Width of the model head for ``data`` (a :class:`prl.data.Data`)."""
        raise NotImplementedError


class Classification(Task):
    name = losses.CLASSIFICATION
    primary = "test_accuracy"
    higher_is_better = True
    test_keys = ("test_accuracy",)
    noise_options = "noise=clean, symmetric, pairflip, asymmetric, labelfile, cifar10n or cifar100n"

    def changed(self, noisy, clean):
        return np.asarray(noisy) != np.asarray(clean)

    def test_sums(self, output, target):
        return (output.argmax(dim=1) == target).sum().to(torch.float64).reshape(1)

    def test_metrics(self, sums, count):
        return {"test_accuracy": 100.0 * float(sums[0]) / max(count, 1)}

    def describe_metric(self, record):
        return f"test_acc {record['test_accuracy']:.2f}%"

    def num_outputs(self, data):
        return int(data.num_classes)


class Regression(Task):
    name = losses.REGRESSION
    primary = "test_mse"
    higher_is_better = False
    test_keys = ("test_mse", "test_mae")
    noise_options = "the noise=target-* options"

    def changed(self, noisy, clean):
        diff = np.abs(np.asarray(noisy) - np.asarray(clean)).reshape(len(clean), -1)
        return np.any(diff > 0, axis=1)

    def test_sums(self, output, target):
        diff = output - target.reshape(output.shape)
        if diff.dim() > 1:
            dims = tuple(range(1, diff.dim()))
            return torch.stack([diff.pow(2).mean(dim=dims).sum(), diff.abs().mean(dim=dims).sum()]).to(torch.float64)
        return torch.stack([diff.pow(2).sum(), diff.abs().sum()]).to(torch.float64)

    def describe_metric(self, record):
        return f"test_mse {record['test_mse']:.4g}"

    def num_outputs(self, data):
        return int(np.prod(data.train_y.shape[1:])) if data.train_y.dim() > 1 else 1


TASKS: dict[str, Task] = {t.name: t for t in (Classification(), Regression())}


def get_task(name: str) -> Task:
    """The :class:`Task` called ``name``; ``ValueError`` naming the allowed ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {name!r}") from None
