"""Training algorithms: one small registry, one object per run that owns its networks.

* :mod:`~prl.algorithms.registry` -- ``@register("name")``, :func:`get`, :func:`available`.
* :mod:`~prl.algorithms.base` -- :class:`Algorithm`, the root: networks, optimizers, the one
  place they step (:meth:`Algorithm.optimize`), state.
* :mod:`~prl.algorithms.erm` -- ERM-style methods (every sample): ``standard``, ``bootstrapping``.
* :mod:`~prl.algorithms.selection` -- the selection family base: scores, keep rule, score pass
  and the reference code's switches, once; :mod:`~prl.algorithms.keep` -- the keep rules.
* :mod:`~prl.algorithms.loss_layer` -- ``spl``, ``co-teaching``, ``prl-l``, ``co-prl-l``;
  :mod:`~prl.algorithms.prlg` -- ``prl-g``, ``co-prl-g``; :mod:`~prl.algorithms.jocor`;
  :mod:`~prl.algorithms.coteaching_plus`.

A new method is one class with ``@register("name")`` and one ``conf/algorithm/<name>.yaml``
holding ``name: <name>`` and its settings.  :meth:`Algorithm.train_step` returns
``{"loss": (num_networks,), "kept": [Tensor | None, ...]}``: the loss each network stepped
on and the batch positions it stepped on (None: all).
"""

from prl.algorithms import coteaching_plus, erm, jocor, loss_layer, prlg  # noqa: F401  (register the classes)
from prl.algorithms.base import Algorithm
from prl.algorithms.keep import DropFraction, KeepRule
from prl.algorithms.registry import REGISTRY, available, get, register
from prl.algorithms.selection import RampedSelection, Selection

#: every registered algorithm in the order tables and the README list them: ERM baselines, the
#: small-loss family, then PRL (a test checks this against the registry)
ORDER = ("standard", "bootstrapping", "spl", "co-teaching", "co-teaching-plus", "jocor",
         "prl-l", "co-prl-l", "prl-g", "co-prl-g")

__all__ = ["REGISTRY", "ORDER", "Algorithm", "Selection", "RampedSelection", "KeepRule", "DropFraction",
           "available", "get", "register"]
