"""prl: training deep networks under corrupted supervision (PRL, Liu et al., ICML 2021).

The drop-in API works in any training loop, without Hydra::

    loss, kept = prl.prl_l_loss(logits, labels, epsilon=0.2)
    loss.backward()

and ``prl.EpsilonEstimator`` estimates epsilon from the scores a loop feeds it per batch
(:mod:`prl.estimation`).

The experiment framework is ``run.py`` + ``conf/`` (Hydra); see the README.  The names below
are imported on first use, so ``import prl.analysis`` does not load torch.
"""

__version__ = "0.1.0"

__all__ = [
    "EpsilonEstimator",
    "prl_l_loss",
    "small_loss",
    "loss_layer_grad_norm",
    "per_sample_loss",
    "num_kept",
    "select_lowest",
    "epsilon_schedule",
]


def __getattr__(name):
    if name == "EpsilonEstimator":
        from prl.estimation import EpsilonEstimator

        return EpsilonEstimator
    if name in __all__:
        from prl import losses

        return getattr(losses, name)
    raise AttributeError(f"module 'prl' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
