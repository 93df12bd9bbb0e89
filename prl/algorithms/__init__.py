"""Training algorithms: one small registry, one object per run that owns its networks.

An algorithm is built from ``conf/algorithm/<name>.yaml``: ``name`` picks the class in
:data:`REGISTRY`, every other key is a constructor argument.  The object owns its one or two
networks and their optimizers; :meth:`Algorithm.train_step` updates every network once and
returns a dict::

    {"loss": Tensor[num_networks],        # the loss each network stepped on (detached)
     "kept": [Tensor | None, ...]}        # per network: batch positions that network *selected*
                                          # (None = the whole batch)

The runner, not the algorithm, turns ``kept`` into label precision / recall with the
clean-label mask.  In the co- variants network i is updated on the samples the *other*
network selected, so ``kept[0]`` is what network 1 chose for network 2.

Selection rules (lower score = kept, ``num_kept(N, epsilon_t)`` samples per batch):

=============  ==========================================  =========  ========
name           score                                       networks   exchange
=============  ==========================================  =========  ========
standard       none (plain ERM)                            1          -
spl            per-sample loss (trimmed loss)              1          -
prl-l          loss-layer gradient norm                    1          -
co-teaching    per-sample loss (small-loss rule)           2          yes
co-prl-l       loss-layer gradient norm                    2          yes
bootstrapping  none; hard bootstrapping target, beta=0.8   1          -
=============  ==========================================  =========  ========

By default the step scores and selects from the logits of the single forward pass and
back-propagates the mean loss of the kept samples (``reforward=false``).  ``reforward=true``
re-runs each network on its kept subset, as the reference code does (BatchNorm statistics then
come from the kept samples only); ``double_divide=true`` divides the kept mean loss by the kept
count once more, another quirk of the reference code.  Both are off by default.
"""

from prl.algorithms.base import REGISTRY, Algorithm, available, get, register  # noqa: F401
from prl.algorithms import selection  # noqa: F401,E402  (registers the classes)
from prl.algorithms import coteaching_plus  # noqa: F401,E402
from prl.algorithms import jocor  # noqa: F401,E402
from prl.algorithms import prlg  # noqa: F401,E402  (prl-g, co-prl-g)

#: every registered algorithm in the order tables and the README list them: ERM baselines, the
#: small-loss family, then PRL (a test checks this against the registry)
ORDER = ("standard", "bootstrapping", "spl", "co-teaching", "co-teaching-plus", "jocor",
         "prl-l", "co-prl-l", "prl-g", "co-prl-g")

__all__ = ["REGISTRY", "ORDER", "Algorithm", "available", "get", "register"]
