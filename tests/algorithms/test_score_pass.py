"""algorithm.score_pass=separate: scores from a no-grad forward, the step forwards and
backpropagates the kept rows only.  Same update as the shared pass on networks that treat the
samples independently; the forward structure is what the cost model says."""

import logging

import pytest
import torch

from prl import algorithms
from prl.errors import ConfigValueError
from prl.models import CNN9, MLP, ResNet32, SmallCNN, sample_independent
from prl.optim import adam

SEPARATE = ["spl", "prl-l", "co-teaching", "co-prl-l"]

from ..conftest import step


def gn_net():
    return SmallCNN((1, 8, 8), 10, padding=2, norm="gn")


def make(name, model_fn=gn_net, **kw):
    torch.manual_seed(0)
    return algorithms.get(name)(model_fn=model_fn, optimizer_fn=lambda p: adam(p, lr=1e-2), epsilon=0.4, **kw)


def batches(n=40, steps=3, dtype=torch.float32):
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(n, 1, 8, 8, generator=g).to(dtype), torch.randint(0, 10, (n,), generator=g))
            for _ in range(steps)]


@pytest.mark.parametrize("name", SEPARATE)
@pytest.mark.parametrize("model_fn", [gn_net, lambda: MLP((1, 8, 8), 10, hidden=(32,))], ids=["cnn-gn", "mlp"])
def test_separate_gives_the_shared_update_on_sample_independent_nets(name, model_fn):
    shared = make(name, model_fn, score_pass="shared")
    separate = make(name, model_fn, score_pass="separate")
    shared.networks.double()
    separate.networks.double()
    for eps, (x, y) in zip((0.4, 0.0, 0.4), batches(dtype=torch.float64)):  # selecting, the ERM start, selecting
        a, b = step(shared, x, y, eps), step(separate, x, y, eps)
        torch.testing.assert_close(a["loss"], b["loss"], rtol=1e-10, atol=1e-12)
        for ka, kb in zip(a["kept"], b["kept"]):
            assert (ka is None and kb is None) or torch.equal(ka, kb)
    for p, q in zip(shared.networks.parameters(), separate.networks.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", SEPARATE)
def test_separate_scores_without_autograd_and_steps_on_the_kept_rows(name):
    algo = make(name, score_pass="separate")
    calls = []
    for i, net in enumerate(algo.networks):
        net.register_forward_hook(lambda m, args, out, i=i: calls.append((i, args[0].shape[0], out.requires_grad)))
    (x, y), = batches(n=40, steps=1)
    step(algo, x, y, 0.4)  # keeps 24 of 40
    nets = len(algo.networks)
    assert calls == [(i, 40, False) for i in range(nets)] + [(i, 24, True) for i in range(nets)]
    calls.clear()
    step(algo, x, y, 0.0)  # nothing dropped: the one shared forward
    assert calls == [(i, 40, True) for i in range(nets)]


def test_separate_on_batchnorm_is_the_reforward_step_and_says_so(caplog):
    bn = lambda: SmallCNN((1, 8, 8), 10, padding=2)  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="prl"):
        separate = make("prl-l", bn, score_pass="separate")
    assert "BatchNorm" in caplog.text and not all(sample_independent(n) for n in separate.networks)
    reforward = make("prl-l", bn, reforward=True)
    for x, y in batches():
        step(separate, x, y, 0.4)
        step(reforward, x, y, 0.4)
    for a, b in zip(separate.networks.state_dict().values(), reforward.networks.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["prl-g", "jocor", "co-teaching-plus"])
def test_separate_is_refused_where_the_score_needs_more_than_output_rows(name):
    with pytest.raises(ConfigValueError, match="score_pass=separate is not possible") as exc:
        make(name, score_pass="separate")
    assert exc.value.key == "score_pass" and "prl-l" in str(exc.value)


def test_methods_without_selection_have_no_score_pass():
    with pytest.raises(TypeError, match="score_pass"):
        algorithms.get("bootstrapping")(model_fn=gn_net, optimizer_fn=lambda p: adam(p), score_pass="separate")


def test_unknown_score_pass_names_the_allowed_values():
    with pytest.raises(ConfigValueError, match="score_pass must be one of shared, separate") as exc:
        make("prl-l", score_pass="auto")
    assert exc.value.key == "score_pass"


def test_sample_independent():
    assert sample_independent(gn_net()) and sample_independent(MLP((4,), 2))
    assert sample_independent(ResNet32((3, 32, 32), 10, norm="gn", blocks=1))
    assert not sample_independent(SmallCNN((1, 8, 8), 10, padding=2))  # BatchNorm
    assert not sample_independent(MLP((4,), 2, dropout=0.1))  # nn.Dropout
    assert not sample_independent(CNN9((3, 32, 32), 10, norm="gn"))  # functional dropout2d
    assert sample_independent(CNN9((3, 32, 32), 10, norm="gn", dropout=0.0))


def test_separate_runs_end_to_end_from_the_config(tiny_cfg, tmp_path):
    from prl.engine import train

    cfg = tiny_cfg("algorithm=co-prl-l", "model=cnn-small-gn", "noise=symmetric50", "algorithm.num_gradual=0",
                   "algorithm.score_pass=separate")
    summary = train(cfg, str(tmp_path))
    assert summary["status"] == "completed" and 10.0 < summary["test_accuracy_final"] <= 100.0
