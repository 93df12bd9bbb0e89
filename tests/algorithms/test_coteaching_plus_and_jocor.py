"""Co-teaching+ and JoCoR: the selection rules on hand-built logits, the joint loss, the
single-optimizer equivalence, and a short digits run of each."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prl import algorithms
from prl.algorithms.coteaching_plus import (
    CoTeachingPlus,
    disagreement,
    disagreement_kept,
)
from prl.algorithms.jocor import JoCoR, jocor_loss, symmetric_kl
from prl.errors import ConfigError
from prl.optim import adam, sgd
from prl.engine import train

from ..conftest import step


class Table(nn.Module):
    """A "network" whose output for input ``i`` is row ``i`` of a trainable logit table: a row
    changes under SGD exactly when its sample is in the loss the network stepped on."""

    def __init__(self, logits):
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(logits, dtype=torch.float64).clone())

    def forward(self, x):
        return self.table.index_select(0, x.long().flatten())


def tables(*logits):
    it = iter(logits)
    return lambda: Table(next(it))


def plain_sgd(params):
    return torch.optim.SGD(params, lr=1.0)


# Labels are all 0.  Samples 0, 1: both networks predict 0 (agree).  Samples 2..5 disagree.
# Net 1 has small losses on 2 (< 3) and large on 4, 5; net 2 small on 4 (< 5), large on 2, 3.
NET1 = [[5, 0, 0], [5, 0, 0], [1.0, 0, 1.1], [1.0, 1.2, 0], [0, 4, 0], [0, 0, 4]]
NET2 = [[5, 0, 0], [4, 1, 0], [0, 4, 0], [0, 0, 4], [1.0, 0, 1.1], [1.0, 1.2, 0]]
X = torch.arange(6)
Y = torch.zeros(6, dtype=torch.long)
AGREE = [[5, 0, 0], [0, 5, 0], [0, 0, 5], [2, 1, 0]]


def coplus(net1=NET1, net2=NET2, optimizer_fn=plain_sgd, **kw):
    kw.setdefault("init_epoch", 0)
    return CoTeachingPlus(model_fn=tables(net1, net2), optimizer_fn=optimizer_fn, **kw)


def changed_rows(before, after):
    return torch.nonzero((before != after).any(dim=1)).flatten().tolist()


def tables_of(algo):
    return [net.table.detach().clone() for net in algo.networks]


# ----------------------------------------------------------------------------- co-teaching+


def test_disagreement_set_and_official_kept_count():
    z1, z2 = torch.tensor(NET1), torch.tensor(NET2)
    assert disagreement(z1, z2).tolist() == [2, 3, 4, 5]
    assert disagreement(z1, z1).numel() == 0
    # int((1 - eps) * m), all m when that is 0 (not num_kept's minimum of 1)
    assert [disagreement_kept(m, e) for m, e in [(4, 0.5), (5, 0.5), (4, 0.0), (128, 0.45), (3, 0.8), (1, 0.5)]] == [
        2, 2, 4, 70, 3, 1]


def test_small_loss_exchange_on_the_disagreement_set_only():
    algo = coplus()
    before = tables_of(algo)
    out = step(algo, X, Y, 0.5)
    # kept[i]: what network i stepped on, i.e. the other network's two smallest losses among {2,3,4,5}
    assert out["kept"][0].tolist() == [4, 5]  # net 2's picks
    assert out["kept"][1].tolist() == [2, 3]  # net 1's picks
    after = tables_of(algo)
    # exchange: net 1 learns from net 2's picks and vice versa; agreeing samples 0, 1 never
    assert changed_rows(before[0], after[0]) == [4, 5]
    assert changed_rows(before[1], after[1]) == [2, 3]
    for i in (0, 1):
        expected = F.cross_entropy(before[i][out["kept"][i]], Y[out["kept"][i]])
        torch.testing.assert_close(out["loss"][i], expected)


def test_zero_epsilon_keeps_the_whole_disagreement_set():
    algo = coplus()
    before = tables_of(algo)
    out = step(algo, X, Y, 0.0)
    assert sorted(out["kept"][0].tolist()) == sorted(out["kept"][1].tolist()) == [2, 3, 4, 5]
    after = tables_of(algo)
    assert changed_rows(before[0], after[0]) == changed_rows(before[1], after[1]) == [2, 3, 4, 5]


def test_kept_count_falls_back_to_the_whole_disagreement_set():
    algo = coplus()
    out = step(algo, X, Y, 0.9)  # int(0.1 * 4) = 0 -> keep all 4 (num_kept would keep 1)
    assert [idx.numel() for idx in out["kept"]] == [4, 4]


def test_quirks_double_softmax_and_double_divide():
    algo = coplus(double_softmax=True, double_divide=True)
    before = tables_of(algo)
    out = step(algo, X, Y, 0.5)
    # ranking of softmax(z) cross-entropies agrees here; the loss is CE(softmax(z)) / k
    for i in (0, 1):
        kept = out["kept"][i]  # what network i stepped on
        expected = F.cross_entropy(before[i][kept].softmax(1), Y[kept]) / 2
        torch.testing.assert_close(out["loss"][i], expected)


def test_reforward_gives_the_same_step_without_batch_statistics():
    a, b = coplus(), coplus(reforward=True)
    out_a, out_b = step(a, X, Y, 0.5), step(b, X, Y, 0.5)
    torch.testing.assert_close(out_a["loss"], out_b["loss"])
    for ta, tb in zip(tables_of(a), tables_of(b)):
        torch.testing.assert_close(ta, tb)


def test_all_agreeing_batch_trains_on_everything_then_on_nothing():
    algo = coplus(AGREE, AGREE, warmup_steps=1)
    x, y = torch.arange(4), torch.tensor([0, 2, 1, 1])
    before = tables_of(algo)
    out = step(algo, x, y, 0.5)  # step 0 < 1: whole batch, plain mean (no epsilon, no drop)
    assert out["kept"] == [None, None]
    torch.testing.assert_close(out["loss"], torch.stack([F.cross_entropy(t, y) for t in before]))
    after = tables_of(algo)
    assert changed_rows(before[0], after[0]) == changed_rows(before[1], after[1]) == [0, 1, 2, 3]
    out = step(algo, x, y, 0.5)  # step 1: zero loss, nothing learnt (plain SGD does not move)
    assert [idx.numel() for idx in out["kept"]] == [0, 0]
    assert out["loss"].tolist() == [0.0, 0.0]
    for t0, t1 in zip(after, tables_of(algo)):
        assert torch.equal(t0, t1)


def test_zero_loss_step_still_steps_the_optimizer_as_the_official_code():
    algo = coplus(AGREE, AGREE, warmup_steps=1, optimizer_fn=lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    x, y = torch.arange(4), torch.tensor([0, 2, 1, 1])
    step(algo, x, y, 0.0)
    mid = tables_of(algo)
    step(algo, x, y, 0.0)  # zero gradient, but the momentum buffer moves the weights
    assert all(not torch.equal(a, b) for a, b in zip(mid, tables_of(algo)))


def test_warmup_step_global_counter_and_official_product():
    glob = coplus(AGREE, AGREE, warmup_steps=3)
    offi = coplus(AGREE, AGREE, warmup_steps=3, official_step=True)
    x, y = torch.arange(4), torch.tensor([0, 2, 1, 1])

    def full(algo, epoch):
        algo.start_epoch(epoch)  # the loop's start-of-epoch call
        return step(algo, x, y, 0.0)["kept"][0] is None

    # global: steps 0, 1, 2 train on the batch, 3 and later not (across epochs)
    assert [full(glob, e) for e in (1, 1, 1, 1, 2)] == [True, True, True, False, False]
    # official: (epoch + 1) * batch index -> epoch 1: 0, 2, 4; epoch 2 restarts: 0
    assert [full(offi, e) for e in (1, 1, 1, 2)] == [True, True, False, True]
    assert glob.state_dict()["step"] == 5
    fresh = coplus(AGREE, AGREE, warmup_steps=3)
    fresh.load_state_dict(glob.state_dict())
    assert fresh.step == 5


def test_plain_co_teaching_before_init_epoch():
    algo = coplus(init_epoch=2)
    ref = algorithms.get("co-teaching")(model_fn=tables(NET1, NET2), optimizer_fn=plain_sgd)
    for epoch in (0, 1):
        algo.start_epoch(epoch)
        out, out_ref = step(algo, X, Y, 0.5), step(ref, X, Y, 0.5)
        assert [k.tolist() for k in out["kept"]] == [k.tolist() for k in out_ref["kept"]]
        assert 0 in out["kept"][0].tolist()  # an agreeing sample: no disagreement filter yet
        torch.testing.assert_close(out["loss"], out_ref["loss"])
    algo.start_epoch(2)
    out = step(algo, X, Y, 0.5)
    assert set(out["kept"][0].tolist()) <= {2, 3, 4, 5}


def test_epoch_bookkeeping_comes_from_start_epoch_only():
    algo = coplus(init_epoch=1)
    algo.start_epoch(0)
    step(algo, X, Y, 0.0)
    algo.rule.at(1)  # save_checkpoint asks for the next epoch's epsilon: no side effect
    assert (algo.epoch, algo.batch) == (0, 1)
    algo.start_epoch(1)
    algo.start_epoch(1)  # idempotent within an epoch
    assert (algo.epoch, algo.batch) == (1, 0)


def test_co_teaching_plus_refuses_regression_and_bad_values():
    with pytest.raises(ConfigError, match="does not support regression"):
        coplus(task="regression")
    with pytest.raises(ConfigError, match="init_epoch"):
        coplus(init_epoch=-1)
    with pytest.raises(ConfigError, match="networks=3"):
        coplus(networks=3)


# ----------------------------------------------------------------------------- JoCoR


def official_kl(pred, soft_targets):
    """The official ``kl_loss_compute(pred, soft_targets, reduce=False)``."""
    return F.kl_div(F.log_softmax(pred, dim=1), F.softmax(soft_targets, dim=1), reduction="none").sum(1)


def official_joint(z1, z2, y, lam):
    ce = (F.cross_entropy(z1, y, reduction="none") + F.cross_entropy(z2, y, reduction="none")) * (1 - lam)
    return ce + lam * official_kl(z1, z2) + lam * official_kl(z2, z1)


def test_joint_loss_value_and_gradient_match_the_official_definition():
    torch.manual_seed(0)
    z1 = (torch.randn(16, 5, dtype=torch.float64) * 2).requires_grad_()
    z2 = (torch.randn(16, 5, dtype=torch.float64) * 2).requires_grad_()
    y = torch.randint(0, 5, (16,))
    got = jocor_loss(z1, z2, y, 0.3)
    want = official_joint(z1, z2, y, 0.3)
    torch.testing.assert_close(got, want)
    # by hand: KL(p1||p2) + KL(p2||p1), summed over classes
    p1, p2 = z1.softmax(1), z2.softmax(1)
    by_hand = (p1 * (p1 / p2).log()).sum(1) + (p2 * (p2 / p1).log()).sum(1)
    torch.testing.assert_close(symmetric_kl(z1, z2), by_hand)
    g_got = torch.autograd.grad(got.sum(), (z1, z2))
    g_want = torch.autograd.grad(want.sum(), (z1, z2))
    for a, b in zip(g_got, g_want):  # gradients flow through both distributions, as officially
        torch.testing.assert_close(a, b)
    assert jocor_loss(z1, z1, y, 0.3).detach().sub(0.7 * 2 * F.cross_entropy(z1, y, reduction="none")).abs().max() < 1e-12


def test_symmetric_kl_gradient_is_finite_when_a_probability_underflows():
    z1 = torch.tensor([[0.0, 200.0, -200.0]], requires_grad=True)
    z2 = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)
    symmetric_kl(z1, z2).sum().backward()
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()


def mlp_pair(seed=0):
    torch.manual_seed(seed)
    return [nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)) for _ in range(2)]


def make_jocor(nets, optimizer_fn, **kw):
    it = iter(copy.deepcopy(nets))
    return JoCoR(model_fn=lambda: next(it), optimizer_fn=optimizer_fn, **kw)


def test_jocor_keeps_the_smallest_joint_losses_for_both_networks():
    nets = mlp_pair()
    algo = make_jocor(nets, adam, co_lambda=0.4)
    torch.manual_seed(1)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    joint = jocor_loss(nets[0](x), nets[1](x), y, 0.4).detach()
    out = step(algo, x, y, 0.3)
    kept = out["kept"][0]
    assert kept is out["kept"][1] and kept.numel() == int(0.7 * 40)
    dropped = torch.ones(40, dtype=torch.bool)
    dropped[kept] = False
    assert joint[kept].max() <= joint[dropped].min()
    torch.testing.assert_close(out["loss"], joint[kept].mean().repeat(2))


@pytest.mark.parametrize("opt,reforward", [("adam", False), ("sgd", False), ("adam", True)])
def test_jocor_update_equals_the_official_single_optimizer_update(opt, reforward):
    nets = mlp_pair()
    optimizer_fn = {"adam": lambda p: adam(p, lr=1e-2, weight_decay=1e-3),
                    "sgd": lambda p: sgd(p, lr=0.1, momentum=0.9, weight_decay=5e-4)}[opt]
    algo = make_jocor(nets, optimizer_fn, co_lambda=0.6, reforward=reforward)  # no BN: same step
    ref = copy.deepcopy(nets)
    ref_opt = optimizer_fn(list(ref[0].parameters()) + list(ref[1].parameters()))
    g = torch.Generator().manual_seed(2)
    for eps in (0.0, 0.25, 0.5):
        x, y = torch.randn(32, 4, generator=g), torch.randint(0, 3, (32,), generator=g)
        # the official step: joint loss, argsort, int((1 - eps) * N) kept, mean, one optimizer
        joint = official_joint(ref[0](x), ref[1](x), y, 0.6)
        keep = torch.argsort(joint.detach())[: int((1 - eps) * 32)]
        ref_loss = joint[keep].mean()
        ref_opt.zero_grad()
        ref_loss.backward()
        ref_opt.step()
        out = step(algo, x, y, eps)
        torch.testing.assert_close(out["loss"][0], ref_loss.detach())
    for net, r in zip(algo.networks, ref):
        for p, q in zip(net.parameters(), r.parameters()):
            torch.testing.assert_close(p, q)


def test_jocor_refuses_regression_other_network_counts_and_bad_lambda():
    nets = mlp_pair()
    with pytest.raises(ConfigError, match="does not support regression"):
        make_jocor(nets, adam, task="regression")
    with pytest.raises(ConfigError, match="networks=3"):
        make_jocor(nets, adam, networks=3)
    with pytest.raises(ConfigError, match="co_lambda"):
        make_jocor(nets, adam, co_lambda=1.5)
    with pytest.raises(ConfigError, match="mixup_alpha"):
        make_jocor(nets, adam, mixup_alpha=0.2)


@pytest.mark.parametrize("name", ["co-teaching-plus", "jocor"])
def test_logging_forward_is_one_more_forward_per_network(name):
    calls = []
    for flag in (False, True):
        nets = mlp_pair()
        for net in nets:
            net.register_forward_hook(lambda *a, f=flag: calls.append(f))
        it = iter(nets)
        kw = {"init_epoch": 0} if name == "co-teaching-plus" else {}
        algo = algorithms.get(name)(model_fn=lambda it=it: next(it), optimizer_fn=adam, logging_forward=flag, **kw)
        torch.manual_seed(1)
        algo.train_step(torch.randn(16, 4), torch.randint(0, 3, (16,)), 0.25)
    assert calls.count(True) == calls.count(False) + 2


# ----------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("name,extra", [("co-teaching-plus", ["algorithm.init_epoch=1"]), ("jocor", [])])
def test_two_epochs_on_digits(name, extra, tiny_cfg, tmp_path):
    cfg = tiny_cfg(f"algorithm={name}", "noise=symmetric50", *extra)
    summary = train(cfg, run_dir=str(tmp_path))
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["networks"] == 2
    assert 10.0 < summary["test_accuracy_final"] <= 100.0
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["kept_fraction"] == 1.0  # epsilon_at(0) = 0: nothing dropped
    eps = lines[1]["epsilon"]
    assert eps == pytest.approx(0.5 / 9)
    if name == "jocor":
        assert lines[1]["kept_fraction"] == pytest.approx(1 - eps, abs=0.03)
    else:  # epoch 2 is past init_epoch: only disagreement samples are kept
        assert lines[1]["kept_fraction"] < 0.9 * (1 - eps)
