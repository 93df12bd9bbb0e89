"""Sweep presets (conf/experiment), dataset x model presets, and multiruns through the basic,
joblib and submitit_local launchers, including jobs that fail while the others complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import ROOT, run_cli

CONF = ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml") if p.stem != "none")  # none: no preset
INPUT_SHAPES = {"prl.data.fashion_mnist": (1, 28, 28), "prl.data.mnist": (1, 28, 28), "prl.data.digits": (1, 8, 8),
                "prl.data.cifar10": (3, 32, 32), "prl.data.cifar100": (3, 32, 32)}
FMNIST_ALGORITHMS = {"standard", "spl", "co-teaching", "bootstrapping", "prl-l", "co-prl-l", "prl-g", "co-prl-g"}
PAPER_NOISE = {"pairflip45", "symmetric20", "symmetric50"}


def compose(*overrides: str, hydra: bool = False):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import prl.config  # noqa: F401  (registers the schema)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra)


def statuses(sweep: Path) -> dict[int, str]:
    return {int(p.name): json.loads((p / "summary.json").read_text())["status"]
            for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()}


# ----------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_preset_is_a_valid_grid(name):
    """Every grid point composes and passes the config checks; every algorithm is registered;
    an algorithm that needs per-sample gradients gets a model without BatchNorm."""
    from hydra.utils import instantiate

    from prl.algorithms import available, get
    from prl.analysis import sweep_grid
    from prl.config import check
    from prl.models import has_batchnorm

    h = compose(f"experiment={name}", hydra=True)
    params = {k: str(v) for k, v in h.hydra.sweeper.params.items()}
    assert {"seed", "noise", "algorithm"} <= set(params)
    assert list(params)[0] == "seed"  # slowest axis: a partial sweep already fills every cell once
    assert str(h.hydra.sweep.dir).startswith(f"multirun/{name}/")
    algorithms = params["algorithm"].split(",")
    assert {a.split("/")[-1] for a in algorithms} <= set(available())  # auto/<method>: <method> with epsilon=auto
    noises = params["noise"].split(",")
    assert all((CONF / "noise" / f"{n}.yaml").is_file() for n in noises)
    assert len(sweep_grid(params)) == len(params["seed"].split(",")) * len(noises) * len(algorithms)
    for alg in algorithms:
        for noise in noises if alg == algorithms[0] else noises[:1]:
            cfg = compose(f"experiment={name}", f"algorithm={alg}", f"noise={noise}")
            check(cfg)
            if get(cfg.algorithm.name).per_sample_gradients:
                net = instantiate(cfg.model, input_shape=INPUT_SHAPES[cfg.dataset._target_], num_outputs=10)
                assert not has_batchnorm(net), f"{name}: {alg} on a BatchNorm model"


def test_fmnist_table_preset():
    from prl.analysis import sweep_grid

    h = compose("experiment=fmnist-table", hydra=True)
    params = {k: str(v) for k, v in h.hydra.sweeper.params.items()}
    assert set(params["algorithm"].split(",")) == FMNIST_ALGORITHMS | {"auto/prl-l", "auto/co-prl-l"}
    assert set(params["noise"].split(",")) == PAPER_NOISE | {"clean"}
    assert params["seed"] == "0,1,2"
    assert len(sweep_grid(params)) == 120
    # the plain columns use the noise model's epsilon, the auto/ ones estimate it; both ramp over 5 epochs
    plain, auto = (compose("experiment=fmnist-table", f"algorithm={a}").algorithm for a in ("co-prl-l", "auto/co-prl-l"))
    assert (plain.epsilon, auto.epsilon, plain.num_gradual, auto.num_gradual) == (None, "auto", 5, 5)
    assert h.dataset._target_ == "prl.data.fashion_mnist" and h.hydra.runtime.choices.model == "cnn-small-gn"
    # the CPU budget: 15 epochs of 100 batches
    assert (h.trainer.epochs, h.trainer.max_steps_per_epoch, h.trainer.batch_size) == (15, 100, 128)
    # reduced epochs through an override: the command line wins over the preset
    assert compose("experiment=fmnist-table", "trainer.epochs=2").trainer.epochs == 2
    assert len(sweep_grid(params, ["seed=0", "algorithm=standard,prl-l"])) == 4 * 2


@pytest.mark.parametrize("dataset", ["mnist", "cifar10", "cifar100"])
def test_paper_presets_use_cnn9_and_the_pair_preset(dataset):
    h = compose(f"experiment={dataset}-paper", hydra=True)
    params = {k: str(v) for k, v in h.hydra.sweeper.params.items()}
    assert set(params["noise"].split(",")) == PAPER_NOISE and params["seed"] == "0,1,2"
    assert set(params["algorithm"].split(",")) == FMNIST_ALGORITHMS - {"prl-g", "co-prl-g"}  # BatchNorm CNN
    choices = h.hydra.runtime.choices
    assert (choices.dataset, choices.model, choices.dataset_model) == (dataset, "cnn9", f"{dataset}_cnn9")
    assert (h.trainer.epochs, h.trainer.batch_size) == (50, 128)


def test_dataset_model_presets_apply_and_the_command_line_wins():
    cfg = compose("dataset=cifar10", "model=cnn9")
    assert (cfg.trainer.epochs, cfg.trainer.batch_size) == (50, 128)
    assert compose("dataset=cifar10", "model=cnn9", "trainer.epochs=3").trainer.epochs == 3
    assert not (CONF / "dataset_model" / "cifar10_mlp.yaml").exists()
    assert compose("dataset=cifar10", "model=mlp").trainer.epochs == compose().trainer.epochs  # no preset: defaults
    assert compose("experiment=cifar10-paper", "trainer.epochs=7").trainer.epochs == 7
    assert compose("dataset=digits", "model=cnn-small").model.padding == 2
    assert compose("dataset=digits", "model=cnn-small", "model.padding=1").model.padding == 1


@pytest.mark.parametrize("path", sorted((CONF / "dataset_model").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_dataset_model_preset_is_selected_by_its_pair(path):
    from prl.config import check

    dataset, model = path.stem.split("_", 1)
    assert (CONF / "dataset" / f"{dataset}.yaml").is_file() and (CONF / "model" / f"{model}.yaml").is_file()
    h = compose(f"dataset={dataset}", f"model={model}", hydra=True)
    assert h.hydra.runtime.choices.dataset_model == path.stem
    check(compose(f"dataset={dataset}", f"model={model}", "algorithm=standard"))


def test_slurm_launcher_preset_composes():
    h = compose("hydra/launcher=slurm", "hydra.launcher.partition=gpu", hydra=True)
    launcher = h.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.partition) == (1, 1, "gpu")
    assert launcher.timeout_min >= 60


# ----------------------------------------------------------------------------- multiruns

TINY = ["dataset=digits", "logger=none", "trainer.epochs=2", "trainer.threads=1", "trainer.progress=false",
        "algorithm=standard"]


def test_multirun_records_failed_jobs_and_runs_the_others(tmp_path):
    """Job 0 diverges mid-training (a RuntimeError in the job), jobs 1 and 3 fail at setup
    (ConfigError); job 2 still completes, and each directory says what happened."""
    from prl import analysis

    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", *TINY, "optimizer=sgd", "optimizer.lr=1e30,0.1", "noise=pairflip", "noise.rate=0.3,0.6",
                   f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert statuses(sweep) == {0: "diverged", 1: "failed", 2: "completed", 3: "failed"}
    failed = json.loads((sweep / "1" / "summary.json").read_text())
    assert "noise.rate" in failed["error"] and failed["choices"]["noise"] == "pairflip"
    assert (sweep / "2" / "metrics.jsonl").read_text().count("\n") == 2
    table = analysis.paper_table(analysis.collect(str(sweep)))
    assert sorted(table.missing["status"]) == ["diverged", "failed", "failed"]
    assert table.cells.set_index("column").loc["standard [optimizer.lr=0.1]", "n"].tolist() == [0, 1]


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", *TINY, "noise=pairflip", "noise.rate=0.3,0.6", "seed=0,1", "hydra/launcher=joblib",
                   "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert statuses(sweep) == {0: "completed", 1: "completed", 2: "failed", 3: "failed"}


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path):
    """The submitit path (as on SLURM) with its local executor: each job its own process."""
    sweep = tmp_path / "sweep"
    proc = run_cli(["-m", *TINY, "noise=pairflip", "noise.rate=0.6,0.3", "hydra/launcher=submitit_local",
                   "hydra.launcher.timeout_min=5", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert statuses(sweep) == {0: "failed", 1: "completed"}
    logs = list((sweep / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2
