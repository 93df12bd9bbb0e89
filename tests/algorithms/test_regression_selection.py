"""PRL-L on squared error: the loss-layer gradient is the residual, so it keeps what the trimmed loss keeps."""

from __future__ import annotations

import torch

from ..conftest import step


def test_prl_l_keeps_the_smallest_autograd_loss_layer_gradients():
    from prl.algorithms import get
    from prl.losses import per_sample_loss
    from prl.models import MLP
    from prl.optim import adam

    torch.manual_seed(0)
    x = torch.randn(64, 6)
    y = torch.randn(64, 2)
    algo = get("prl-l")(model_fn=lambda: MLP((6,), 2, hidden=(16,)), optimizer_fn=adam, task="regression",
                        epsilon=0.25)
    out = algo.networks[0](x)
    out.retain_grad()
    per_sample_loss(out, y, "regression").sum().backward()
    norms = out.grad.norm(dim=1)  # d loss_i / d f(x_i), row by row
    assert torch.allclose(out.grad, (out - y).detach(), atol=1e-6)
    algo.networks[0].zero_grad()
    out = step(algo, x, y, 0.25)
    kept = out["kept"][0]
    assert kept.shape == (48,)
    assert set(kept.tolist()) == set(torch.argsort(norms)[:48].tolist())
    assert norms[kept].max() <= norms[torch.tensor([i for i in range(64) if i not in set(kept.tolist())])].min()


def test_prl_l_selects_like_the_trimmed_loss_for_squared_error():
    """||f(x) - y|| is monotone in 0.5 ||f(x) - y||^2: for MSE, PRL-L keeps what SPL keeps."""
    from prl.algorithms import get
    from prl.models import MLP
    from prl.optim import adam

    x, y = torch.randn(50, 4), torch.randn(50, 3)
    kept = []
    for name in ("prl-l", "spl"):
        torch.manual_seed(1)
        algo = get(name)(model_fn=lambda: MLP((4,), 3, hidden=(8,)), optimizer_fn=adam, task="regression",
                         epsilon=0.4)
        kept.append(step(algo, x, y, 0.4)["kept"][0])
    assert torch.equal(kept[0], kept[1])


# ============================================================================= end to end
