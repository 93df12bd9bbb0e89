"""prl: training deep networks under corrupted supervision (PRL, Liu et al., ICML 2021).

The drop-in API works in any training loop, without Hydra::

    loss, kept = prl.prl_l_loss(logits, labels, epsilon=0.2)
    loss.backward()

The experiment framework is ``run.py`` + ``conf/`` (Hydra); see the README.
"""

from prl.losses import (
    epsilon_schedule,
    loss_layer_grad_norm,
    num_kept,
    per_sample_loss,
    prl_l_loss,
    select_lowest,
    small_loss,
)

__version__ = "0.1.0"

__all__ = [
    "prl_l_loss",
    "small_loss",
    "loss_layer_grad_norm",
    "per_sample_loss",
    "num_kept",
    "select_lowest",
    "epsilon_schedule",
]
