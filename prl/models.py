"""Networks.  Every constructor takes ``input_shape`` (one sample, e.g. ``(3, 32, 32)``) and
``num_outputs`` (class count or target dimension) first; the runner passes both from the
dataset, so they are never typed in a config.

``norm`` selects the normalisation layer: ``bn`` (BatchNorm), ``gn`` (GroupNorm with
``min(32, C)`` groups, as in the PRL reference's ``resnet32_nobn``) or ``none``.  BatchNorm
mixes the samples of a batch, so per-sample gradients (PRL-G) need ``gn`` or ``none``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from prl.errors import ConfigValueError

__all__ = ["CNN9", "ResNet32", "SmallCNN", "MLP", "has_batchnorm", "sample_independent", "norm2d"]

NORMS = ("bn", "gn", "none")


def norm2d(kind: str, channels: int, momentum: float = 0.1) -> nn.Module:
    if kind == "bn":
        return nn.BatchNorm2d(channels, momentum=momentum)
    if kind == "gn":
        return nn.GroupNorm(min(32, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigValueError(f"norm must be one of {', '.join(NORMS)}; got {kind!r}", "norm")


def has_batchnorm(module: nn.Module) -> bool:
    """True if any submodule is a BatchNorm layer (its output mixes the samples of a batch)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def sample_independent(module: nn.Module) -> bool:
    """True when, in training mode, row ``i`` of the output depends on row ``i`` of the input
    only, and deterministically: no BatchNorm (batch statistics mix the rows) and no dropout
    (``nn.Dropout*`` modules with ``p > 0``, or a module's own float ``dropout`` rate > 0 for
    functional dropout such as :class:`CNN9`'s).  Not seen: other functional dropout or
    batch-mixing code inside a custom ``forward``.

    Then a forward of any subset of the rows gives exactly those rows of the full forward (up
    to float rounding), which lets selection methods score in a no-grad pass and step on the
    kept rows only (``algorithm.score_pass``).
    """
    if has_batchnorm(module):
        return False
    for m in module.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
            return False
        rate = getattr(m, "dropout", None)
        if isinstance(rate, float) and rate > 0:
            return False
    return True


def _image_shape(input_shape: Sequence[int], name: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ConfigValueError(
            f"{name} needs image inputs of shape (channels, height, width), the dataset gives {shape}; "
            f"use model=mlp for tabular data",
            "input_shape",
        )
    return shape  # type: ignore[return-value]


class CNN9(nn.Module):
    """The 9-layer CNN of co-teaching and PRL (for 28x28 and 32x32 images).

    conv3x3-BN-LeakyReLU(0.01) x3 (128), max-pool, dropout2d(0.25), x3 (256), max-pool,
    dropout2d, then unpadded 3x3 convs 512/256/128, global average pool, linear.
    ``test_dropout=True`` keeps dropout on in eval mode (a quirk of the reference code, used
    by the faithful preset); by default dropout is off at test time.
    """

    def __init__(self, input_shape, num_outputs: int, dropout: float = 0.25, norm: str = "bn",
                 test_dropout: bool = False, momentum: float = 0.1):
        super().__init__()
        c_in, h, w = _image_shape(input_shape, "cnn9")
        self.dropout = float(dropout)
        self.test_dropout = bool(test_dropout)
        spec = [(c_in, 128, 1), (128, 128, 1), (128, 128, 1), (128, 256, 1), (256, 256, 1),
                (256, 256, 1), (256, 512, 0), (512, 256, 0), (256, 128, 0)]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, padding=p) for i, o, p in spec)
        self.norms = nn.ModuleList(norm2d(norm, o, momentum) for _, o, _ in spec)
        self.fc = nn.Linear(128, num_outputs)
        if min(h, w) // 4 < 7:
            raise ConfigValueError(
                f"cnn9 needs images of at least 28x28 (three unpadded convs after two pools); got "
                f"{h}x{w}; use model=cnn-small or model=mlp",
                "input_shape",
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drop = self.training or self.test_dropout
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = F.leaky_relu(norm(conv(x)), negative_slope=0.01)
            if i in (2, 5):
                x = F.dropout2d(F.max_pool2d(x, 2, 2), p=self.dropout, training=drop)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm2d(norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = norm2d(norm, c_out)
        self.pad = (c_out - c_in) // 2 if (stride != 1 or c_in != c_out) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # option A shortcut (He et al. 2016, CIFAR): subsample and zero-pad channels
        short = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class ResNet32(nn.Module):
    """ResNet-32 for CIFAR (He et al. 2016): 3 stages x ``blocks`` basic blocks, 16/32/64
    channels, option-A shortcuts, Kaiming-normal init (0.46M parameters).  ``norm=gn`` gives
    the GroupNorm variant needed for per-sample gradients."""

    def __init__(self, input_shape, num_outputs: int, norm: str = "bn", blocks: int = 5):
        super().__init__()
        c_in, _, _ = _image_shape(input_shape, "resnet32")
        self.conv1 = nn.Conv2d(c_in, 16, 3, padding=1, bias=False)
        self.bn1 = norm2d(norm, 16)
        layers, c = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(int(blocks)):
                layers.append(_BasicBlock(c, width, stride if b == 0 else 1, norm))
                c = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_outputs)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class SmallCNN(nn.Module):
    """A CPU-friendly CNN: [conv(k)-norm-ReLU-maxpool(2)] per entry of ``channels``, then
    linear(``hidden``)-ReLU-linear.  Defaults (16/32 channels, 5x5 unpadded) suit 28x28
    images (~80k parameters); small inputs such as 8x8 digits need ``padding=2``."""

    def __init__(self, input_shape, num_outputs: int, channels: Sequence[int] = (16, 32),
                 kernel_size: int = 5, padding: int = 0, hidden: int = 128, norm: str = "bn"):
        super().__init__()
        c_in, h, w = _image_shape(input_shape, "cnn-small")
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, kernel_size, padding=padding, bias=(norm == "none")),
                       norm2d(norm, c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c_out
            h, w = (h + 2 * padding - kernel_size + 1) // 2, (w + 2 * padding - kernel_size + 1) // 2
            if h < 1 or w < 1:
                raise ConfigValueError(
                    f"cnn-small with kernel_size={kernel_size}, padding={padding} and {len(channels)} "
                    f"conv blocks does not fit {tuple(input_shape)} inputs (the feature map vanishes); "
                    f"use model.padding={kernel_size // 2} or fewer model.channels",
                    "padding",
                )
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * h * w, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """Fully connected net on flattened inputs: Linear-ReLU per ``hidden`` width, then Linear."""

    def __init__(self, input_shape, num_outputs: int, hidden: Sequence[int] = (256, 128), dropout: float = 0.0):
        super().__init__()
        d = int(np.prod(tuple(input_shape)))
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(d, int(width)), nn.ReLU(inplace=True)]
            if dropout:
                layers.append(nn.Dropout(float(dropout)))
            d = int(width)
        layers.append(nn.Linear(d, num_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
