"""Per-sample gradient norms (prl.grad_norms) and the PRL-G / co-PRL-G algorithms.

Reference: a Python loop of one ``autograd.grad`` per sample (``naive_grad_norms``).  Engines
must match it to 1e-5 relative in float64 (they match to ~1e-15).
"""

from __future__ import annotations

import copy
import functools
import json

import pytest
import torch
import torch.nn as nn

from prl import algorithms
from prl.errors import ConfigError, ConfigValueError
from prl.grad_norms import (
    FORMS,
    GhostNorms,
    UnsupportedModel,
    naive_grad_norms,
    per_sample_grad_norms,
    unsupported_layers,
)
from prl.losses import per_sample_loss, select_lowest
from prl.models import MLP, ResNet32, SmallCNN
from prl.optim import adam
from prl.engine import setup, train

RTOL = 1e-5

MODELS = {
    "mlp": lambda out: MLP((1, 8, 8), out),
    "cnn-small-gn": lambda out: SmallCNN((1, 8, 8), out, padding=2, norm="gn"),
    "resnet32-gn": lambda out: ResNet32((3, 8, 8), out, norm="gn", blocks=1),
}

from .conftest import step


def data(name: str, task: str, n: int = 9, seed: int = 0):
    """A float64 model and a batch: 10 classes, or 2-D regression targets."""
    torch.manual_seed(seed)
    out = 10 if task == "classification" else 2
    model = MODELS[name](out).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, 3 if name == "resnet32-gn" else 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (n,), generator=g) if task == "classification" else torch.randn(n, 2, generator=g,
                                                                                               dtype=torch.float64)
    return model, x, y, (lambda o, t: per_sample_loss(o, t, task))


def rel_err(a, b):
    return ((a - b).abs() / b.abs().clamp_min(1e-30)).max().item()


class Odd(nn.Module):
    """Every ghost rule at once: strided + grouped conv, dilated Conv1d with padding='same',
    LayerNorm and a Linear over token dimensions, a bias-free conv, an unused layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2)
        self.conv_nb = nn.Conv2d(4, 4, 1, bias=False)
        self.conv1d = nn.Conv1d(4, 6, 3, padding="same", dilation=2)
        self.ln = nn.LayerNorm(6)
        self.head = nn.Linear(6, 3)
        self.unused = nn.Linear(3, 3)

    def forward(self, x):
        h = torch.relu(self.conv_nb(torch.relu(self.conv(x))))  # (N, 4, 4, 4)
        h = self.conv1d(h.flatten(2)).transpose(1, 2)  # (N, 16, 6)
        return self.head(self.ln(h)).mean(dim=1)  # (N, 3)


# ----------------------------------------------------------------------------- engines


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", ["ghost", "functorch"])
def test_engines_match_naive_loop(method, name, task):
    model, x, y, loss_fn = data(name, task)
    ref = naive_grad_norms(model, loss_fn, x, y)
    assert ref.shape == (x.shape[0],) and (ref > 0).all()
    got = per_sample_grad_norms(model, loss_fn, x, y, method=method)
    assert got.shape == ref.shape and got.dtype == torch.float64
    assert rel_err(got, ref) < RTOL
    # chunked: tiny scratch budget / chunk size give the same numbers
    small = per_sample_grad_norms(model, loss_fn, x, y, method=method, budget=64, chunk_size=2)
    assert rel_err(small, ref) < RTOL


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("channels_last", [False, True])
def test_ghost_forms_on_every_layer_rule(form, channels_last):
    torch.manual_seed(0)
    model = Odd().double()
    x = torch.randn(7, 2, 8, 8, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randn(7, 3, dtype=torch.float64)
    loss_fn = lambda o, t: per_sample_loss(o, t, "regression")  # noqa: E731
    ref = naive_grad_norms(model, loss_fn, x, y)
    for budget in (1 << 24, 30):
        got = per_sample_grad_norms(model, loss_fn, x, y, method="ghost", form=form, budget=budget)
        assert rel_err(got, ref) < RTOL, (form, budget)


def test_ghost_chooses_per_layer_by_a_fixed_rule():
    """`auto`: Gram form for few positions, on CPU the grouped kernel for narrow layers, else
    direct (always direct on CUDA); ResNet-32 on 8x8 inputs has all three, and every forced
    form gives the same numbers."""
    from prl.grad_norms import _conv_form

    rule = functools.partial(_conv_form, "auto")
    assert rule(positions=4, out_ch=64, patch=576, groups=1, in_per_group=64) == "gram"
    assert rule(positions=1024, out_ch=16, patch=144, groups=1, in_per_group=16) == "grouped"
    assert rule(positions=1024, out_ch=16, patch=144, groups=1, in_per_group=16, device_type="cuda") == "direct"
    assert rule(positions=64, out_ch=64, patch=576, groups=1, in_per_group=64) == "direct"  # wide layer
    assert rule(positions=576, out_ch=16, patch=25, groups=1, in_per_group=1) == "direct"  # one input channel
    model, x, y, loss_fn = data("resnet32-gn", "classification")
    norms = {f: per_sample_grad_norms(model, loss_fn, x, y, form=f) for f in FORMS}
    for f in FORMS:
        assert rel_err(norms[f], norms["auto"]) < 1e-12, f


def test_norms_leave_grads_untouched_and_float32_is_close():
    model, x, y, loss_fn = data("cnn-small-gn", "classification")
    ref = naive_grad_norms(model, loss_fn, x, y)
    model = model.float()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    for method in ("ghost", "functorch"):
        got = per_sample_grad_norms(model, loss_fn, x.float(), y, method=method)
        assert got.dtype == torch.float32 and rel_err(got.double(), ref) < 1e-4
    assert all((p.grad == 7.0).all() for p in model.parameters())


@pytest.mark.parametrize("name", ["cnn-small-gn", "resnet32-gn", "mlp"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_ghost_backward_equals_autograd(name, task):
    """GhostNorms.backward(idx, scale) == (scale * losses[idx].sum()).backward()."""
    model, x, y, loss_fn = data(name, task, n=12)
    idx = torch.tensor([3, 0, 7, 11, 5])
    twin = copy.deepcopy(model)
    (0.2 * loss_fn(twin(x), y)[idx].sum()).backward()
    tape = GhostNorms(model)
    with tape.record():
        out = model(x)
    tape.norms(loss_fn(out, y))
    assert tape.ready
    tape.backward(idx, 0.2)
    assert not tape.ready
    for (n, p), q in zip(model.named_parameters(), twin.parameters()):
        assert p.grad is not None, n
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12, msg=n)


def test_ghost_backward_all_samples_and_accumulates():
    model, x, y, loss_fn = data("cnn-small-gn", "regression")
    twin = copy.deepcopy(model)
    (2 * loss_fn(twin(x), y).sum()).backward()  # = one existing grad + one from the tape
    loss_fn(model(x), y).sum().backward()
    tape = GhostNorms(model)
    with tape.record():
        out = model(x)
    tape.norms(loss_fn(out, y))
    tape.backward(None, 1.0)
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)


def test_ghost_refuses_what_it_cannot_do_exactly():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.s = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.s

    model = nn.Sequential(nn.Linear(4, 3), Scale())
    assert unsupported_layers(model) and "Scale" in unsupported_layers(model)[0]
    with pytest.raises(UnsupportedModel):
        GhostNorms(model)
    # ... but functorch does it
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    model = model.double()
    loss_fn = lambda o, t: per_sample_loss(o, t, "regression")  # noqa: E731
    torch.testing.assert_close(per_sample_grad_norms(model, loss_fn, x, y, method="functorch"),
                               naive_grad_norms(model, loss_fn, x, y), rtol=RTOL, atol=0)
    assert unsupported_layers(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"))
    assert unsupported_layers(nn.Conv2d(2, 2, 4, padding="same"))  # asymmetric padding
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight  # tied weights: the per-sample gradient mixes two layers
    assert any("shares" in p for p in unsupported_layers(nn.Sequential(a, nn.ReLU(), b)))

    class Twice(nn.Module):  # the same layer called twice: exact norms need cross terms
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    tape = GhostNorms(Twice())
    with pytest.raises(RuntimeError, match="twice"), tape.record():
        tape.model(torch.randn(2, 3))

    class Functional(nn.Module):  # a parameter used outside its module's call
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.a(x) + torch.nn.functional.linear(x, self.b.weight)

    tape = GhostNorms(Functional())
    with tape.record():
        out = tape.model(torch.randn(2, 3))
    with pytest.raises(UnsupportedModel, match="outside"):
        tape.norms(out.sum(dim=1))


def test_scratch_is_bounded_by_the_budget(monkeypatch):
    """No engine builds batch x parameters numbers: per-sample products come in chunks."""
    model, x, y, loss_fn = data("cnn-small-gn", "classification", n=32)
    sizes = []
    bmm = torch.bmm

    def spy(a, b):
        out = bmm(a, b)
        sizes.append(out.numel())
        return out

    monkeypatch.setattr(torch, "bmm", spy)
    budget = 20_000  # elements; conv2 alone has 12.8k parameters: one sample per chunk there
    per_sample_grad_norms(model, loss_fn, x, y, method="ghost", budget=budget, form="direct")
    assert sizes and max(sizes) <= budget
    monkeypatch.undo()

    chunks = []
    vmap = torch.func.vmap

    def spy_vmap(fn, *args, **kwargs):
        inner = vmap(fn, *args, **kwargs)

        def call(params, xs, ys):
            chunks.append(xs.shape[0])
            return inner(params, xs, ys)

        return call

    monkeypatch.setattr(torch.func, "vmap", spy_vmap)
    params = sum(p.numel() for p in model.parameters())
    per_sample_grad_norms(model, loss_fn, x, y, method="functorch", budget=3 * params)
    assert chunks == [3] * 10 + [2]


def test_ghost_under_cpu_autocast_is_close():
    """bf16 autocast (the GPU recipe, here on CPU): norms and update stay close to fp32."""
    model, x, y, loss_fn = data("cnn-small-gn", "classification", n=16)
    model, x = model.float(), x.float()
    ref = per_sample_grad_norms(model, loss_fn, x, y)
    tape = GhostNorms(model)
    with torch.autocast("cpu", dtype=torch.bfloat16), tape.record():
        out = model(x)
    got = tape.norms(loss_fn(out, y))
    assert got.dtype == torch.float32
    assert rel_err(got, ref) < 0.05
    tape.backward(torch.arange(8), 1 / 8)
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())


# ----------------------------------------------------------------------------- the algorithms


def make(name, model_fn, **kw):
    torch.manual_seed(0)
    return algorithms.get(name)(model_fn=model_fn, optimizer_fn=lambda p: adam(p, lr=1e-3), **kw)


def model_fn(name: str, task: str = "classification"):
    """Float64 networks; each call draws new weights (the two co- networks differ)."""
    return lambda: MODELS[name](10 if task == "classification" else 2).double()


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("name", ["prl-g", "co-prl-g"])
@pytest.mark.parametrize("engine", ["ghost", "functorch"])
def test_selection_equals_sorting_the_norms(name, task, engine):
    model_name = "cnn-small-gn" if task == "classification" else "mlp"
    _, x, y, loss_fn = data(model_name, task, n=40)
    algo = make(name, model_fn(model_name, task), task=task, epsilon=0.3, grad_norm=engine)
    before = [copy.deepcopy(net) for net in algo.networks]
    out = step(algo, x, y, 0.3)
    k = int(0.7 * 40)
    chosen = out["kept"][::-1] if algo.exchange else out["kept"]  # kept[i]: what network i stepped on
    for i, (net, kept) in enumerate(zip(before, chosen)):
        norms = naive_grad_norms(net, loss_fn, x, y)
        gaps = norms.sort().values.diff()
        assert gaps.min() > 1e-9 * norms.max()  # no near-ties: the order is well defined
        assert torch.equal(kept, select_lowest(norms, k))
        assert rel_err(algo.last_scores[i], norms) < RTOL
    assert out["loss"].shape == (len(algo.networks),)


@pytest.mark.parametrize("name", ["prl-g", "co-prl-g"])
def test_ghost_step_equals_plain_backward_step(name):
    """The assembled update equals the functorch engine's ordinary backward of the kept mean
    (same selection, same Adam step); co-PRL-G updates each network on the other's picks."""
    _, x, y, _ = data("cnn-small-gn", "classification", n=40)
    fn = model_fn("cnn-small-gn")
    ghost, func = make(name, fn, epsilon=0.4, grad_norm="ghost"), make(name, fn, epsilon=0.4, grad_norm="functorch")
    for _ in range(2):
        a, b = step(ghost, x, y, 0.4), step(func, x, y, 0.4)
        assert all(torch.equal(i, j) for i, j in zip(a["kept"], b["kept"]))
        torch.testing.assert_close(a["loss"], b["loss"], rtol=1e-10, atol=0)
    for p, q in zip(ghost.networks.parameters(), func.networks.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12)


def test_no_selection_is_plain_erm_and_bad_options_fail():
    fn = model_fn("mlp")
    _, x, y, _ = data("mlp", "classification", n=20)
    algo, erm = make("prl-g", fn, epsilon=0.3), make("standard", fn)
    out = step(algo, x, y, 0.0)
    step(erm, x, y, 0.0)
    assert out["kept"] == [None]
    for p, q in zip(algo.networks.parameters(), erm.networks.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert algo.grad_norm == "ghost"  # auto on a supported model
    with pytest.raises(ConfigValueError, match="grad_norm"):
        make("prl-g", fn, grad_norm="vmap")
    unsupported = lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.PReLU())  # noqa: E731
    with pytest.raises(ConfigValueError, match="functorch"):
        make("prl-g", unsupported, grad_norm="ghost")
    assert make("prl-g", unsupported).grad_norm == "functorch"


@pytest.mark.parametrize("name", ["prl-g", "co-prl-g"])
def test_batchnorm_model_fails_at_setup(tiny_cfg, name):
    cfg = tiny_cfg(f"algorithm={name}", "model=cnn-small")
    with pytest.raises(ConfigError, match="GroupNorm") as err:
        setup(cfg)
    assert "model=cnn-small-gn" in str(err.value)


@pytest.mark.parametrize("name", ["prl-g", "co-prl-g"])
def test_short_digits_run(tiny_cfg, tmp_path, name):
    cfg = tiny_cfg(f"algorithm={name}", "model=cnn-small-gn", "algorithm.num_gradual=2", "trainer.epochs=2")
    summary = train(cfg, run_dir=str(tmp_path))
    assert summary["status"] == "completed" and summary["networks"] == (2 if name == "co-prl-g" else 1)
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert lines[0]["kept_fraction"] == 1.0
    assert lines[1]["epsilon"] == pytest.approx(0.45) and lines[1]["kept_fraction"] < 0.6
    assert summary["test_accuracy_final"] > 20.0  # 10 classes: above chance after 2 short epochs


@pytest.mark.slow
def test_prl_g_under_torch_compile():
    """setup() may wrap the networks in torch.compile after the algorithm is built, and Dynamo
    may reuse a graph compiled for another instance of the same class without the hooks: the
    recorded forward must still see every layer and give the same norms."""
    _, x, y, loss_fn = data("cnn-small-gn", "classification", n=24)
    x = x.float()
    other = torch.compile(MODELS["cnn-small-gn"](10))
    other(x)  # a hook-free graph for this class is in Dynamo's cache
    algo = make("prl-g", lambda: MODELS["cnn-small-gn"](10), epsilon=0.4)
    ref = naive_grad_norms(algo.networks[0], loss_fn, x, y)
    algo.networks = nn.ModuleList(torch.compile(net) for net in algo.networks)
    out = step(algo, x, y, 0.4)
    assert rel_err(algo.last_scores[0], ref) < 1e-4
    assert torch.equal(out["kept"][0].sort().values, select_lowest(ref, int(0.6 * 24)).sort().values)
