"""The algorithm registry, the selection rules and one short run of every algorithm."""

import copy
import json
from pathlib import Path

import pytest
import torch

from prl import algorithms
from prl.losses import loss_layer_grad_norm, num_kept, per_sample_loss
from prl.models import MLP, SmallCNN
from prl.optim import adam
from prl.engine import train

from ..conftest import CONF, step


def test_every_config_is_registered_and_vice_versa():
    names = {p.stem for p in Path(CONF, "algorithm").glob("*.yaml")}
    assert names == set(algorithms.available()) == set(algorithms.ORDER)
    assert len(algorithms.ORDER) == len(set(algorithms.ORDER))
    for p in Path(CONF, "algorithm").glob("*.yaml"):
        assert f"name: {p.stem}\n" in p.read_text(), f"{p} must carry its own name"


def make(name, **kw):
    torch.manual_seed(0)
    cls = algorithms.get(name)
    model_fn = kw.pop("model_fn", lambda: SmallCNN((1, 8, 8), 10, padding=2))
    return cls(model_fn=model_fn, optimizer_fn=lambda p: adam(p, lr=1e-3), **kw)


def batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name,eps", [("prl-l", 0.3), ("spl", 0.45), ("co-prl-l", 0.2), ("co-teaching", 0.5)])
def test_kept_count_and_lowest_scores(name, eps):
    algo = make(name, epsilon=eps)
    x, y = batch(100)
    before = [copy.deepcopy(net) for net in algo.networks]
    out = step(algo, x, y, eps)
    k = int((1 - eps) * 100)
    assert [idx.shape[0] for idx in out["kept"]] == [k] * len(algo.networks) == [num_kept(100, eps)] * len(algo.networks)
    chosen = out["kept"][::-1] if algo.exchange else out["kept"]  # kept[i]: what network i stepped on
    for net, idx in zip(before, chosen):  # ... and network i chose for the other one
        logits = net(x)  # same train-mode forward the step saw
        scores = loss_layer_grad_norm(logits, y) if "prl" in name else per_sample_loss(logits, y).detach()
        dropped = torch.ones(100, dtype=torch.bool)
        dropped[idx] = False
        assert scores[idx].max() <= scores[dropped].min()


@pytest.mark.parametrize("name", ["co-prl-l", "co-teaching"])
def test_co_variants_exchange(name):
    algo = make(name, epsilon=0.4)
    x, y = batch(80)
    before = [copy.deepcopy(net) for net in algo.networks]
    seen = []
    update = algo.update
    algo.update = lambda i, output, losses, x_, y_, idx, divide=True: seen.append((i, idx)) or update(i, output, losses, x_, y_, idx, divide)
    out = step(algo, x, y, 0.4)
    assert not torch.equal(out["kept"][0], out["kept"][1])
    # kept[i] is what network i stepped on: network 2's picks for network 1 and vice versa
    assert seen[0][0] == 0 and torch.equal(seen[0][1], out["kept"][0])
    assert seen[1][0] == 1 and torch.equal(seen[1][1], out["kept"][1])
    for i, other in ((0, 1), (1, 0)):
        expected = per_sample_loss(before[i](x), y)[out["kept"][i]].mean()
        torch.testing.assert_close(out["loss"][i], expected.detach())
        own = per_sample_loss(before[other](x), y).detach()  # chosen by the other network's small losses
        assert set(out["kept"][i].tolist()) == set(torch.argsort(own)[:out["kept"][i].shape[0]].tolist())


def test_single_network_variants_do_not_exchange():
    algo = make("prl-l", epsilon=0.4, networks=2)  # two independent networks (faithful mode)
    x, y = batch(80)
    before = [copy.deepcopy(net) for net in algo.networks]
    out = step(algo, x, y, 0.4)
    for i in range(2):
        expected = per_sample_loss(before[i](x), y)[out["kept"][i]].mean()
        torch.testing.assert_close(out["loss"][i], expected.detach())


def test_zero_epsilon_keeps_everything_and_equals_erm():
    torch.manual_seed(3)
    x, y = batch(32)
    a, b = make("prl-l", epsilon=0.0), make("standard")
    out_a, out_b = step(a, x, y, 0.0), step(b, x, y, 0.0)
    assert out_a["kept"] == [None]
    torch.testing.assert_close(out_a["loss"], out_b["loss"])
    for pa, pb in zip(a.networks.parameters(), b.networks.parameters()):
        torch.testing.assert_close(pa, pb)


def test_bootstrapping_objective():
    algo = make("bootstrapping", beta=0.8)
    x, y = batch(32)
    net = copy.deepcopy(algo.networks[0])
    logits = net(x)
    expected = 0.8 * torch.nn.functional.cross_entropy(logits, y) + 0.2 * torch.nn.functional.cross_entropy(
        logits, logits.argmax(1))
    torch.testing.assert_close(step(algo, x, y, 0.0)["loss"][0], expected.detach())


def test_bootstrapping_refuses_regression():
    with pytest.raises(Exception, match="does not support regression"):
        make("bootstrapping", task="regression", model_fn=lambda: MLP((4,), 1))


def test_epsilon_ramp_per_epoch():
    algo = make("co-prl-l", epsilon=0.45, num_gradual=10)
    assert [round(algo.rule.at(t), 6) for t in (0, 1, 9, 30)] == [0.0, 0.05, 0.45, 0.45]
    assert make("standard").record() == {"epsilon": 0.0}


def test_unknown_algorithm_lists_the_registered_ones():
    with pytest.raises(Exception, match="allowed: .*co-prl-l"):
        algorithms.get("co-prl-x")


@pytest.mark.parametrize("name", algorithms.available())
def test_every_algorithm_runs_end_to_end_on_digits(name, tiny_cfg, tmp_path):
    model = "cnn-small-gn" if algorithms.get(name).per_sample_gradients else "cnn-small"
    cfg = tiny_cfg(f"algorithm={name}", f"model={model}", "noise=symmetric20")
    summary = train(cfg, str(tmp_path))
    assert summary["status"] == "completed"
    assert summary["epochs_completed"] == 2
    assert 10.0 < summary["test_accuracy_final"] <= 100.0
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    net_count = summary["networks"]
    for r in lines:
        assert r["test_accuracy"] == pytest.approx(sum(r[f"test_accuracy_net{i + 1}"] for i in range(net_count)) / net_count)
        assert 0 <= r["label_precision"] <= 100 and 0 <= r["label_recall"] <= 100
