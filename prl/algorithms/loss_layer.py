"""Score-and-drop methods whose score comes from the network's output alone: the trimmed loss
(``spl``), co-teaching, PRL-L and co-PRL-L (Liu et al., ICML 2021, Algorithm 1 with the
loss-layer gradient norm).

=============  ==========================================  =========  ========
name           score (lower = kept)                        networks   exchange
=============  ==========================================  =========  ========
spl            per-sample loss (trimmed loss, self-paced)  1          -
co-teaching    per-sample loss (small-loss rule)           2          yes
prl-l          loss-layer gradient norm                    1          -
co-prl-l       loss-layer gradient norm                    2          yes
=============  ==========================================  =========  ========
"""

from __future__ import annotations

from prl.algorithms.registry import register
from prl.algorithms.selection import RampedSelection

__all__ = ["SPL", "CoTeaching", "PRLL", "CoPRLL"]


@register("spl")
class SPL(RampedSelection):
    """Self-paced learning / trimmed loss: keep the smallest per-sample losses, no exchange."""

    separate_scoring = True

    def score(self, i, output, target, losses):
        return losses


@register("prl-l")
class PRLL(RampedSelection):
    """PRL-L: keep the samples with the smallest loss-layer gradient norm
    (``||softmax(z) - onehot(y)||``; regression ``||f(x) - y||``)."""

    separate_scoring = True

    def score(self, i, output, target, losses):
        return self.task.score(output, target)


@register("co-teaching")
class CoTeaching(SPL):
    """Co-teaching (Han et al. 2018): two networks, each updated on the other's small-loss samples."""

    num_networks = 2
    fixed_networks = True
    exchange = True


@register("co-prl-l")
class CoPRLL(PRLL):
    """Co-PRL-L: PRL-L scores with the co-teaching exchange between two networks."""

    num_networks = 2
    fixed_networks = True
    exchange = True
