"""Typed config schema and the checks that run before any work.

* :class:`Config` / :class:`TrainerConfig` are registered in Hydra's ConfigStore as
  ``prl_schema``; ``conf/config.yaml`` builds on it, so a misspelt or wrongly typed key of the
  top level or of ``trainer`` fails when Hydra composes the config.
* One way to build each kind of thing: leaf objects (``dataset``, ``model``, ``noise``,
  ``optimizer``, ``scheduler``, ``logger``, ``trim``) from a ``_target_`` inside ``prl`` with
  ``hydra.utils.instantiate`` (:func:`build`); the algorithm, which owns networks built from the
  leaves, by its ``name`` through the registry (:mod:`prl.algorithms.registry`).  Their schema is
  the Python signature of what they build: :func:`check` compares every key and simple type
  with it and raises one :class:`ConfigError` naming the key and what is allowed.
* Which keys never define an experiment (:data:`EXECUTION_KEYS`, :data:`PERFORMANCE_KEYS`,
  :data:`REPLICATE_KEYS`): resuming and the analysis tables both read them here.
"""

from __future__ import annotations

import collections.abc
import importlib
import inspect
import secrets
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from prl.errors import ConfigError

__all__ = ["Config", "TrainerConfig", "check", "check_node", "build", "register_schema", "LEAF_GROUPS", "INJECTED",
           "EXECUTION_KEYS", "PERFORMANCE_KEYS", "REPLICATE_KEYS", "matches"]


@dataclass
class TrainerConfig:
    """How the loop runs.  Protocol notes: ``test_drop_last`` must stay false for an honest
    test accuracy (true only reproduces the reference code)."""

    epochs: int = 15
    batch_size: int = 128
    eval_batch_size: int = 1000
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    drop_last: bool = False  # drop the last incomplete training batch
    max_steps_per_epoch: Optional[int] = None  # cap on updates per epoch (reference code: 401)
    test_drop_last: bool = False  # drop the last incomplete test batch (reference-code quirk)
    progress: bool = True  # progress bar per epoch when stderr is a terminal
    threads: Optional[int] = None  # torch CPU threads (default: torch's choice)
    precision: str = "fp32"  # fp32 | bf16 (autocast, CUDA only)
    channels_last: bool = False
    compile: bool = False  # torch.compile the networks
    checkpoint: bool = True  # save checkpoint.pt after every epoch (needed for resume)


@dataclass
class TrimConfig:
    """Regression only: before training, remove (``mode: remove``) or clip (``mode: clip``) the
    training samples whose *observed* (noisy) target lies beyond a quantile; a leaf object like
    the groups' (``_target_``), see :class:`prl.noise.TailTrim`."""

    _target_: str = "prl.noise.TailTrim"
    quantile: Optional[float] = None  # e.g. 0.99; null: no trimming
    mode: str = "remove"  # remove | clip
    tails: str = "both"  # both | upper | lower


@dataclass
class Config:
    """The whole run.  Group nodes are validated against their targets' signatures."""

    dataset: Any = MISSING
    model: Any = MISSING
    noise: Any = MISSING
    algorithm: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    logger: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    trim: TrimConfig = field(default_factory=TrimConfig)
    seed: int = 0  # training seed: initialisation, data order, dropout (not the noise)
    deterministic: bool = False  # torch deterministic algorithms (GPU users; slower)
    force: bool = False  # retrain even if the run directory holds a completed run / checkpoint
    resume: Optional[str] = None  # a run directory to continue (handled by run.py)


def register_schema() -> None:
    ConfigStore.instance().store(name="prl_schema", node=Config)


#: 6 random hex digits, drawn once per process: ``${prl.uid:}`` in the run / sweep directory names
PROCESS_UID = secrets.token_hex(3)


def register_resolvers() -> None:
    """``${prl.uid:}``: :data:`PROCESS_UID` (cached in the config, so the jobs of a sweep, which
    Hydra gives a copy of the launcher's resolver cache, see the launcher's value)."""
    if not OmegaConf.has_resolver("prl.uid"):
        OmegaConf.register_new_resolver("prl.uid", lambda: PROCESS_UID, use_cache=True)


register_schema()
register_resolvers()

#: keys (flattened, prefix match) that say how a run is executed, not what it computes: they may
#: differ between a run directory and the command that resumes it, and never split a table
EXECUTION_KEYS = ("force", "resume", "logger", "trainer.progress", "trainer.device", "trainer.threads",
                  "trainer.checkpoint", "dataset.root", "dataset.download")
#: performance knobs: they can move floats (so a resume must keep them) but define no new setting
PERFORMANCE_KEYS = ("deterministic", "trainer.eval_batch_size", "trainer.compile", "trainer.channels_last")
#: replicate keys: runs that differ only in these are repeats of one setting
REPLICATE_KEYS = ("seed", "noise.seed")


def matches(key: str, keys) -> bool:
    """True when the flattened ``key`` is one of ``keys`` or lies below one (``logger.mode``)."""
    return any(key == k or key.startswith(k + ".") for k in keys)


#: nodes built with ``hydra.utils.instantiate`` from a ``_target_`` (leaf objects); the algorithm is
#: the one node built by ``name`` through the registry (it owns networks built from the leaves)
LEAF_GROUPS = ("dataset", "model", "noise", "optimizer", "scheduler", "logger", "trim")
#: arguments the runner passes at build time (never set in a config)
INJECTED = {
    "model": {"input_shape", "num_outputs"},
    "optimizer": {"params"},
    "scheduler": {"optimizer"},
    "algorithm": {"model_fn", "optimizer_fn", "task", "num_samples", "num_classes"},
}


# ----------------------------------------------------------------------------- signatures


def _import(path: str) -> Callable:
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(f"_target_ {path!r} cannot be imported: is its module on the Python path "
                          f"(PYTHONPATH)?") from None


def _parameters(obj: Callable) -> dict[str, inspect.Parameter]:
    """Keyword parameters of a function or class, following ``**kwargs`` up the MRO."""
    params: dict[str, inspect.Parameter] = {}
    classes = obj.__mro__ if inspect.isclass(obj) else [obj]
    for c in classes:
        fn = c.__init__ if inspect.isclass(obj) else c
        if fn is object.__init__:
            break
        sig = inspect.signature(fn)
        more = False
        for p in sig.parameters.values():
            if p.name == "self":
                continue
            if p.kind == p.VAR_KEYWORD:
                more = True
            elif p.kind != p.VAR_POSITIONAL:
                params.setdefault(p.name, p)
        if not more:
            break
    return params


def _hints(obj: Callable) -> dict[str, Any]:
    out: dict[str, Any] = {}
    classes = obj.__mro__ if inspect.isclass(obj) else [obj]
    for c in reversed(classes):
        fn = c.__init__ if inspect.isclass(obj) else c
        try:
            out.update(typing.get_type_hints(fn))
        except Exception:
            pass
    return out


_SIMPLE = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _type_ok(value: Any, hint: Any) -> Optional[str]:
    """None if ``value`` fits ``hint`` (simple types only), else what was expected."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _type_ok(value, inner[0])
        return None
    if value is None:
        return None if hint is Any or hint not in _SIMPLE else _SIMPLE[hint]
    if hint is bool:
        return None if isinstance(value, bool) else _SIMPLE[bool]
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else _SIMPLE[int]
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else _SIMPLE[float]
    if hint is str:
        return None if isinstance(value, str) else _SIMPLE[str]
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple, ListConfig)):
            return "a list"
        if args and args[0] in _SIMPLE:
            for v in value:
                if _type_ok(v, args[0]):
                    return f"a list of {args[0].__name__}"
    return None


def check_node(node: Any, target: Callable, path: str, injected: set[str] = frozenset(), skip: set[str] = frozenset()) -> None:
    """Check the keys and simple types of ``node`` against ``target``'s signature."""
    params = _parameters(target)
    hints = _hints(target)
    allowed = [p for p in params if p not in injected]
    keys = [k for k in node.keys() if not str(k).startswith("_") and k not in skip]
    for key in keys:
        if key not in params or key in injected:
            raise ConfigError(
                f"{path}.{key} is not a setting of {path} ({_name(target)}); allowed keys: "
                f"{', '.join(allowed) or '(none)'}",
                f"{path}.{key}",
            )
        value = node[key]
        if isinstance(value, (DictConfig,)):
            value = OmegaConf.to_container(value, resolve=True)
        problem = _type_ok(value, hints.get(key, Any))
        if problem:
            raise ConfigError(f"{path}.{key} must be {problem}, got {value!r}", f"{path}.{key}")
    for name, p in params.items():
        if name in injected or name in keys or p.default is not inspect.Parameter.empty:
            continue
        raise ConfigError(f"{path}.{name} is required by {_name(target)} but not set", f"{path}.{name}")


def _name(target: Callable) -> str:
    return f"{target.__module__}.{target.__qualname__}"


def check(cfg: DictConfig) -> None:
    """Validate the leaf groups and the algorithm node; raises :class:`ConfigError`."""
    from prl import algorithms

    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except Exception as exc:  # an unresolvable interpolation or a missing value
        key = getattr(exc, "full_key", None)
        text = str(getattr(exc, "msg", exc)).splitlines()[0]
        if text.startswith("Missing mandatory value"):
            text = f"{key} must be set (it has no default here): add {key}=<value> to the command line"
            raise ConfigError(text, key) from None
        raise ConfigError(f"{key or 'config'}: {text}", key) from None
    for group in LEAF_GROUPS:
        node = cfg.get(group)
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(f"{group} must be a config with a _target_ (pick one with {group}=<option>)", group)
        check_node(node, _import(str(node._target_)), group, INJECTED.get(group, set()))
    node = cfg.algorithm
    if not isinstance(node, DictConfig) or "name" not in node:
        raise ConfigError("algorithm must be a config with a name (pick one with algorithm=<option>)", "algorithm")
    cls = algorithms.get(str(node.name))
    keep_keys = [k for k in ("epsilon", "num_gradual", "exponent", "ramp", "estimator") if k in node]
    if keep_keys and not issubclass(cls, algorithms.RampedSelection):
        selecting = ", ".join(n for n in algorithms.ORDER if issubclass(algorithms.get(n), algorithms.RampedSelection))
        raise ConfigError(f"algorithm.{keep_keys[0]}: algorithm={node.name} does not select samples, so it has no "
                          f"{keep_keys[0]}; the methods that drop a fraction epsilon (epsilon=auto included): "
                          f"{selecting}", f"algorithm.{keep_keys[0]}")
    check_node(node, cls, "algorithm", INJECTED["algorithm"], skip={"name"})
    t = cfg.trainer
    for key, value, low in (("trainer.batch_size", t.batch_size, 1), ("trainer.epochs", t.epochs, 0),
                            ("trainer.eval_batch_size", t.eval_batch_size, 1)):
        if value < low:
            raise ConfigError(f"{key} must be >= {low}, got {value}", key)
    if t.max_steps_per_epoch is not None and t.max_steps_per_epoch < 1:
        raise ConfigError(f"trainer.max_steps_per_epoch must be >= 1 or null, got {t.max_steps_per_epoch}",
                          "trainer.max_steps_per_epoch")
    if t.precision not in ("fp32", "bf16"):
        raise ConfigError(f"trainer.precision must be fp32 or bf16, got {t.precision!r}", "trainer.precision")


def build(node: DictConfig, path: str, **runtime: Any) -> Any:
    """``hydra.utils.instantiate(node, **runtime)``; a ConfigError gets the ``path`` prefix."""
    from hydra.utils import instantiate

    try:
        return instantiate(node, **runtime)
    except ConfigError as exc:
        raise exc.with_prefix(path) from None
    except Exception as exc:  # instantiate wraps constructor errors
        cause = exc.__cause__ or exc.__context__
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ConfigError):
            raise cause.with_prefix(path) from None
        raise
