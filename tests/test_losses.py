"""The drop-in API: scores, kept counts, selection, schedule."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import prl
from prl.losses import epsilon_schedule, loss_layer_grad_norm, num_kept, per_sample_loss, select_lowest


def autograd_output_grad_norm(output, target, task):
    """Norm of d(loss_i)/d(output_i) per sample, by autograd on the summed per-sample loss."""
    out = output.detach().clone().requires_grad_(True)
    per_sample_loss(out, target, task).sum().backward()
    return out.grad.reshape(out.shape[0], -1).norm(dim=1)


@pytest.mark.parametrize("num_classes", [2, 10, 100])
def test_prl_l_score_is_the_logit_gradient_norm(num_classes):
    torch.manual_seed(0)
    logits = torch.randn(64, num_classes, dtype=torch.float64) * 3
    labels = torch.randint(0, num_classes, (64,))
    expected = autograd_output_grad_norm(logits, labels, "classification")
    got = loss_layer_grad_norm(logits, labels)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", [(32,), (32, 1), (32, 3)])
def test_regression_score_is_the_prediction_error_norm(shape):
    torch.manual_seed(0)
    pred, target = torch.randn(*shape, dtype=torch.float64), torch.randn(*shape, dtype=torch.float64)
    expected = autograd_output_grad_norm(pred, target, "regression")
    torch.testing.assert_close(loss_layer_grad_norm(pred, target).double(), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(expected, (pred - target).reshape(32, -1).norm(dim=1))


@pytest.mark.parametrize("n,eps", [(128, 0.0), (128, 0.45), (128, 0.2), (100, 0.3), (7, 0.5), (1, 0.45), (3, 0.9)])
def test_num_kept_matches_reference_formula(n, eps):
    assert num_kept(n, eps) == max(1, int((1 - eps) * n))


def test_selection_equals_sorting_with_stable_ties():
    scores = torch.tensor([0.5, 0.1, 0.5, 0.3, 0.1, 0.9])
    kept = select_lowest(scores, 4)
    assert kept.tolist() == [1, 4, 3, 0]
    assert kept.tolist() == sorted(range(6), key=lambda i: (scores[i].item(), i))[:4]


def test_prl_l_loss_really_filters():
    """The reference README's snippet averaged loss[index] over the whole sorted index (it
    filtered nothing); ours averages over the kept samples only."""
    torch.manual_seed(1)
    logits = torch.randn(50, 10, requires_grad=True)
    labels = torch.randint(0, 10, (50,))
    loss, kept = prl.prl_l_loss(logits, labels, epsilon=0.3)
    assert kept.shape == (35,)
    scores = loss_layer_grad_norm(logits, labels)
    dropped = torch.ones(50, dtype=torch.bool)
    dropped[kept] = False
    assert scores[kept].max() <= scores[dropped].min()
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    torch.testing.assert_close(loss, per_sample[kept].mean())
    assert not torch.isclose(loss, per_sample.mean())
    loss.backward()
    assert (logits.grad[dropped] == 0).all() and (logits.grad[kept].abs().sum(dim=1) > 0).all()


def test_small_loss_keeps_smallest_losses():
    torch.manual_seed(2)
    logits = torch.randn(40, 5)
    labels = torch.randint(0, 5, (40,))
    loss, kept = prl.small_loss(logits, labels, epsilon=0.25)
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    assert set(kept.tolist()) == set(per_sample.argsort()[:30].tolist())
    torch.testing.assert_close(loss, per_sample[kept].mean())


def test_regression_drop_in():
    pred = torch.tensor([[0.0], [1.0], [5.0], [0.5]])
    target = torch.zeros(4, 1)
    loss, kept = prl.prl_l_loss(pred, target, epsilon=0.25)
    assert kept.tolist() == [0, 3, 1]
    torch.testing.assert_close(loss, torch.tensor((0 + 0.125 + 0.5) / 3))


@pytest.mark.parametrize("eps,n_gradual", [(0.45, 10), (0.2, 5), (0.5, 15), (0.3, 1), (0.3, 0)])
def test_epsilon_schedule_matches_reference_linspace(eps, n_gradual):
    ref = np.ones(40) * eps
    if n_gradual > 0:
        ref[:n_gradual] = np.linspace(0, eps, n_gradual)
    assert [epsilon_schedule(t, eps, n_gradual) for t in range(40)] == ref.tolist()


def test_epsilon_schedule_exponent():
    assert epsilon_schedule(0, 0.4, 5, 2.0) == 0.0
    assert epsilon_schedule(2, 0.4, 5, 2.0) == pytest.approx(0.4 * 0.25)
    assert epsilon_schedule(10, 0.4, 5, 2.0) == 0.4
