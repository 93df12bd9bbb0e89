"""Write a CIFAR-N-style label file for Fashion-MNIST: 40% of the training labels replaced by a
class a person could mistake them for, in the official CIFAR-N layout (a dict of numpy int64 arrays
with ``clean_label`` and ``worse_label``), so ``noise=labelfile`` reads it like the real files::

    python analysis/human_like_labels.py data/fmnist-human40.pt
    python run.py noise=labelfile noise.path=data/fmnist-human40.pt noise.key=worse_label

Confusable groups (Fashion-MNIST class indices): tops {T-shirt 0, Pullover 2, Coat 4, Shirt 6},
shoes {Sandal 5, Sneaker 7, Ankle boot 9}, {Trouser 1, Dress 3}; a Bag (8) is mistaken for any
class.  A relabelled sample gets another class of its group, uniformly.  Seeded and exact:
``RandomState(seed)`` picks ``round(rate * N)`` samples, then their new labels.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from prl.data import fashion_mnist

GROUPS = ((0, 2, 4, 6), (5, 7, 9), (1, 3))


def human_like(labels: np.ndarray, rate: float = 0.4, seed: int = 0) -> np.ndarray:
    """``labels`` with ``round(rate * N)`` of them replaced by a confusable class (module docstring)."""
    others = {c: [o for o in g if o != c] for g in GROUPS for c in g}
    others[8] = [c for c in range(10) if c != 8]
    rng = np.random.RandomState(seed)
    noisy = labels.copy()
    chosen = np.sort(rng.choice(len(labels), size=int(round(rate * len(labels))), replace=False))
    for i in chosen:
        noisy[i] = rng.choice(others[int(labels[i])])
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .pt file to write")
    parser.add_argument("--rate", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    clean = fashion_mnist().train_y.numpy().astype(np.int64)
    worse = human_like(clean, args.rate, args.seed)
    torch.save({"clean_label": clean, "worse_label": worse}, args.out)
    print(f"{args.out}: {(worse != clean).mean():.4f} of {len(clean)} labels wrong")


if __name__ == "__main__":
    main()
