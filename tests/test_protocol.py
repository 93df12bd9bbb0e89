"""protocol=faithful: each reference-code quirk is its own switch; each changes what it claims
and nothing else."""

import copy

import numpy as np

import pytest
import torch

from prl import algorithms
from prl.data import BatchIterator
from prl.models import CNN9, MLP, SmallCNN
from prl.engine import train
from prl.engine.metrics import evaluate

from prl.tasks import get_task

from .conftest import compose
from .conftest import step as fixed_step


def make(name, model_fn, lr=0.1, **kw):
    torch.manual_seed(0)
    return algorithms.get(name)(model_fn=model_fn, optimizer_fn=lambda p: torch.optim.SGD(p, lr=lr), **kw)


def bn_net():
    return SmallCNN((1, 8, 8), 10, padding=2)


def plain_net():
    return MLP((1, 8, 8), 10, hidden=(32,))


def batch(n=60):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def params(algo):
    return [p.detach().clone() for p in algo.networks.parameters()]


def buffers(algo):
    return [b.detach().clone() for b in algo.networks.buffers() if b.dtype.is_floating_point]


def count_forwards(algo):
    calls = []
    for net in algo.networks:
        net.register_forward_hook(lambda *a: calls.append(1))
    return calls


def step(algo, eps=0.3):
    x, y = batch()
    return fixed_step(algo, x, y, eps)


def same(a, b):
    return all(torch.allclose(u, v, rtol=1e-6, atol=1e-7) for u, v in zip(a, b))


def test_reforward_adds_one_forward_and_changes_batchnorm_only():
    base, ref = make("prl-l", bn_net, epsilon=0.3), make("prl-l", bn_net, epsilon=0.3, reforward=True)
    calls_base, calls_ref = count_forwards(base), count_forwards(ref)
    step(base), step(ref)
    assert len(calls_base) == 1 and len(calls_ref) == 2
    assert not same(buffers(base), buffers(ref))  # running statistics now come from the kept subset
    # without BatchNorm or dropout the re-forward gives the same output, so the same update
    a, b = make("prl-l", plain_net, epsilon=0.3), make("prl-l", plain_net, epsilon=0.3, reforward=True)
    step(a), step(b)
    assert same(params(a), params(b))


def test_double_divide_scales_the_step_by_one_over_kept_count():
    a, b = make("co-prl-l", plain_net, epsilon=0.3), make("co-prl-l", plain_net, epsilon=0.3, double_divide=True)
    start = params(a)
    out_a, out_b = step(a), step(b)
    k = int((1 - 0.3) * 60)
    torch.testing.assert_close(out_b["loss"], out_a["loss"] / k)
    for p0, pa, pb in zip(start, params(a), params(b)):
        torch.testing.assert_close(pb - p0, (pa - p0) / k, rtol=1e-4, atol=1e-8)
    # methods that do not select have no such switch (the reference divides selection losses only)
    with pytest.raises(TypeError, match="double_divide"):
        make("standard", plain_net, double_divide=True)


def test_logging_forward_touches_batchnorm_statistics_only():
    a, b = make("prl-l", bn_net, epsilon=0.3), make("prl-l", bn_net, epsilon=0.3, logging_forward=True)
    calls = count_forwards(b)
    step(a), step(b)
    assert len(calls) == 2
    assert same(params(a), params(b))
    assert not same(buffers(a), buffers(b))


def test_two_networks_for_a_one_network_method():
    algo = make("spl", plain_net, epsilon=0.3, networks=2)
    assert len(algo.networks) == 2
    out = step(algo)
    assert len(out["kept"]) == 2 and out["loss"].shape == (2,)
    with pytest.raises(Exception, match="networks=3"):
        make("co-teaching", plain_net, networks=3)


def test_test_dropout_keeps_dropout_on_in_eval_mode():
    x = torch.randn(4, 1, 28, 28)
    torch.manual_seed(0)
    fixed = CNN9((1, 28, 28), 10).eval()
    assert torch.equal(fixed(x), fixed(x))
    quirk = CNN9((1, 28, 28), 10, test_dropout=True).eval()
    assert not torch.equal(quirk(x), quirk(x))


class Constant(torch.nn.Module):
    """Predicts class 0 for everything."""

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.zeros(x.shape[0], dtype=torch.long), 10).float()


def test_test_drop_last_ignores_the_tail_of_the_test_set():
    y = torch.tensor([1] * 8 + [0] * 2)  # the last (incomplete) batch holds the two correct ones
    x = torch.zeros(10, 1)
    task = get_task("classification")
    every = evaluate([Constant()], BatchIterator(x, y, 4, shuffle=False), task)
    dropped = evaluate([Constant()], BatchIterator(x, y, 4, shuffle=False, drop_last=True), task)
    assert every[0]["test_accuracy"] == pytest.approx(20.0) and dropped[0]["test_accuracy"] == 0.0


def test_faithful_preset_composes_every_switch():
    cfg = compose("protocol=faithful", "algorithm=co-prl-l", "model=cnn9", "seed=7")
    a, t = cfg.algorithm, cfg.trainer
    assert (a.reforward, a.double_divide, a.logging_forward, a.networks) == (True, True, True, 2)
    assert (t.epochs, t.batch_size, t.drop_last, t.max_steps_per_epoch, t.test_drop_last, t.eval_batch_size) == (
        50, 128, True, 401, True, 128)
    assert cfg.model.test_dropout is True and cfg.noise.seed == 0 and cfg.seed == 7
    assert cfg.optimizer._target_ == "prl.optim.adam" and cfg.optimizer.lr == 0.001
    assert cfg.scheduler._target_ == "prl.optim.constant"
    co = compose("protocol=faithful", "algorithm=co-teaching").algorithm
    assert "reforward" not in co and "logging_forward" not in co and co.double_divide
    default = compose("algorithm=co-prl-l", "model=cnn9")
    assert "reforward" not in default.algorithm and default.model.test_dropout is False
    assert default.trainer.test_drop_last is False and default.trainer.drop_last is False


def test_faithful_run_end_to_end(tmp_path):
    cfg = compose("protocol=faithful", "dataset=digits", "logger=none", "trainer.epochs=2",
                  "trainer.progress=false", "trainer.max_steps_per_epoch=5", "algorithm=standard")
    summary = train(cfg, str(tmp_path))
    assert summary["status"] == "completed" and summary["networks"] == 2
    assert "last incomplete batch dropped" in summary["definitions"]["test set"]
    assert summary["test_accuracy_final"] > 10  # 449 test digits: three full batches of 128 are scored


def test_dropping_every_test_sample_is_refused(tmp_path):
    cfg = compose("dataset=digits", "logger=none", "trainer.test_drop_last=true", "trainer.eval_batch_size=1000")
    with pytest.raises(Exception, match="drops all 449 test samples"):
        train(cfg, str(tmp_path))
    assert not (tmp_path / "metrics.jsonl").exists()


def test_mixup_steps_on_mixed_kept_samples_only():
    import numpy as np

    a = make("prl-l", plain_net, epsilon=0.3)
    b = make("prl-l", plain_net, epsilon=0.3, mixup_alpha=0.4)
    before = copy.deepcopy(b.networks[0])
    calls = count_forwards(b)
    np_state, torch_state = np.random.get_state(), torch.random.get_rng_state()
    out_a, out_b = step(a), step(b)
    assert len(calls) == 2  # the scoring forward + one on the mixed kept samples
    assert torch.equal(out_a["kept"][0], out_b["kept"][0])  # the selection is untouched
    assert not same(params(a), params(b))
    # the same draws by hand: lam ~ Beta(0.4, 0.4) from numpy, the pairing from torch
    np.random.set_state(np_state)
    torch.random.set_rng_state(torch_state)
    lam = float(np.random.beta(0.4, 0.4))
    x, y = batch()
    kept = out_b["kept"][0]
    xk, yk = x[kept], y[kept]
    perm = torch.randperm(xk.shape[0])
    out = before(lam * xk + (1 - lam) * xk[perm])
    ce = torch.nn.functional.cross_entropy
    expected = lam * ce(out, yk) + (1 - lam) * ce(out, yk[perm])
    torch.testing.assert_close(out_b["loss"][0], expected.detach())
    with pytest.raises(Exception, match="mixup_alpha must be >= 0"):
        make("prl-l", plain_net, mixup_alpha=-1)


def test_mixup_works_for_regression():
    algo = make("prl-l", lambda: MLP((3,), 1, hidden=(8,)), epsilon=0.2, task="regression", mixup_alpha=1.0)
    x, y = torch.randn(20, 3), torch.randn(20, 1)
    out = fixed_step(algo, x, y, 0.2)
    assert out["kept"][0].shape == (16,) and torch.isfinite(out["loss"]).all()


def test_deterministic_flag_runs(tmp_path):
    from .conftest import TINY, run_cli

    res = run_cli([*TINY, "trainer.epochs=1", "deterministic=true", f"hydra.run.dir={tmp_path / 'd'}"])
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "d" / "summary.json").exists()


@pytest.mark.parametrize("exponent", [1.0, 2.0, 0.5])
def test_faithful_ramp_is_the_reference_schedule(exponent, tiny_cfg):
    """protocol=faithful reproduces the reference's ``rate_schedule``: ``np.ones(n_epoch) *
    forget_rate`` with ``[:num_gradual] = np.linspace(0, forget_rate ** exponent, num_gradual)``,
    bit for bit over 50 epochs; the default protocol keeps the smooth ramp."""
    from prl.engine import setup

    faithful = setup(tiny_cfg("protocol=faithful", "algorithm=co-prl-l", f"algorithm.exponent={exponent}")).algorithm
    reference = np.ones(50) * 0.45
    reference[:10] = np.linspace(0, 0.45 ** exponent, 10)
    assert [faithful.rule.at(t) for t in range(50)] == reference.tolist()
    if exponent == 2.0:
        assert faithful.rule.at(9) == pytest.approx(0.2025) and faithful.rule.at(10) == 0.45
    smooth = setup(tiny_cfg("algorithm=co-prl-l", f"algorithm.exponent={exponent}")).algorithm
    assert [smooth.rule.at(t) for t in range(50)] == pytest.approx(
        [0.45 * (t / 9) ** exponent for t in range(10)] + [0.45] * 40)
