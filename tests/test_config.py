"""Every config group option composes and builds; typos and wrong types fail early."""

from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from prl.config import LEAF_GROUPS, build, check
from prl.errors import ConfigError

from .conftest import CONF, TINY, compose


def options(group):
    return sorted(p.stem for p in Path(CONF, group).glob("*.yaml"))


def with_required(*overrides):
    """``overrides`` plus a value for each mandatory (???) noise / dataset key the option leaves
    open, and a label file for the CIFAR-N options (whose ``path`` defaults to ./data)."""
    cfg = compose(*overrides)
    extra = {"noise": {"rate": "noise.rate=0.3", "path": "noise.path=/tmp/labels.npy"},
             "dataset": {"path": "dataset.path=/tmp/table.csv", "root": "dataset.root=/tmp",
                         "label": "dataset.label=y"}}
    out = list(overrides)
    for group, keys in extra.items():
        out += [v for k, v in keys.items() if k in cfg[group].keys() and OmegaConf.is_missing(cfg[group], k)]
    if cfg.noise._target_ == "prl.noise.CifarN":
        out.append("noise.path=" + str(Path(__file__).resolve().parent / "conftest.py"))  # any existing file
    return out


def test_default_config_is_the_main_job():
    cfg = compose()
    assert cfg.algorithm.name == "co-prl-l" and cfg.noise._target_ == "prl.noise.PairFlip"
    assert cfg.noise.rate == 0.45 and cfg.algorithm.epsilon is None  # null: the expected corrupted fraction
    assert cfg.dataset._target_ == "prl.data.fashion_mnist" and cfg.model._target_ == "prl.models.SmallCNN"
    assert cfg.logger._target_ == "prl.loggers.WandbLogger"
    check(cfg)


@pytest.mark.parametrize("group", ["algorithm", "model", "noise", "optimizer", "scheduler", "logger", "dataset"])
def test_every_option_composes_and_passes_the_checks(group):
    for option in options(group):
        cfg = compose(*with_required(f"{group}={option}"))
        check(cfg)


@pytest.mark.parametrize("option", options("model"))
def test_every_model_builds_and_runs(option):
    cfg = compose(f"model={option}")
    shape = (3, 32, 32)
    net = build(cfg.model, "model", input_shape=shape, num_outputs=7)
    out = net.eval()(torch.zeros(2, *shape))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("option", options("noise"))
def test_every_noise_builds(option):
    noise = build(compose(*with_required(f"noise={option}")).noise, "noise")
    assert hasattr(noise, "apply") and hasattr(noise, "describe")


def test_optimizers_and_schedulers_build_for_each_network():
    net = torch.nn.Linear(3, 2)
    for opt in options("optimizer"):
        for sched in options("scheduler"):
            cfg = compose(f"optimizer={opt}", f"scheduler={sched}")
            optimizer = build(cfg.optimizer, "optimizer")(net.parameters())
            build(cfg.scheduler, "scheduler")(optimizer=optimizer)


def test_epsilon_is_null_until_set():
    """One source for epsilon's default: the runner (the noise model's expected corrupted
    fraction, tests/test_real_world_noise.py), not an interpolation of noise.rate."""
    assert compose("noise=symmetric50").algorithm.epsilon is None
    assert compose("noise=pairflip45", "algorithm.epsilon=0.5").algorithm.epsilon == 0.5


def test_typo_on_the_command_line_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="epoch"):
        compose("trainer.epoch=3")
    with pytest.raises(ConfigCompositionException):
        compose("noise.rat=0.3")


def test_wrong_type_fails_at_compose_time():
    with pytest.raises(ConfigCompositionException, match="trainer.epochs"):
        compose("trainer.epochs=ten")
    with pytest.raises(ConfigCompositionException, match="seed"):
        compose("seed=abc")


def test_unknown_key_added_to_a_group_is_refused_before_work():
    cfg = compose("+noise.rat=0.3")
    with pytest.raises(ConfigError, match=r"noise.rat is not a setting of noise .*allowed keys: rate, seed") as err:
        check(cfg)
    assert err.value.key == "noise.rat"


def test_wrong_type_in_a_group_is_refused_before_work():
    with pytest.raises(ConfigError, match=r"noise.rate must be a number, got 'abc'"):
        check(compose("noise.rate=abc"))
    with pytest.raises(ConfigError, match=r"model.channels must be a list"):
        check(compose("model.channels=5"))
    with pytest.raises(ConfigError, match=r"algorithm.num_gradual must be an integer"):
        check(compose("algorithm.num_gradual=1.5"))


def test_missing_rate_is_named():
    with pytest.raises(ConfigError, match="noise.rate"):
        check(compose("noise=symmetric"))


def test_out_of_range_values_name_the_key():
    for override, key in [("trainer.batch_size=0", "trainer.batch_size"), ("trainer.epochs=-1", "trainer.epochs")]:
        with pytest.raises(ConfigError) as err:
            check(compose(override))
        assert err.value.key == key


def test_dataset_model_preset_applies_and_command_line_wins():
    assert compose("dataset=digits").model.padding == 2  # conf/dataset_model/digits_cnn-small.yaml
    assert compose("dataset=digits", "model.padding=1").model.padding == 1
    assert compose().model.padding == 0


def test_leaf_targets_stay_inside_prl():
    cfg = compose()
    for group in LEAF_GROUPS:
        assert cfg[group]._target_.startswith("prl.")


def test_resolved_config_has_no_missing_values():
    assert OmegaConf.missing_keys(compose(*TINY)) == set()
