"""The one runner: ``python run.py [group=option ...] [key=value ...]`` (``-m`` for sweeps).

Examples::

    python run.py                                   # co-PRL-L, Fashion-MNIST, pair-flip 45%
    python run.py algorithm=co-teaching noise=symmetric50 seed=1
    python run.py -m algorithm=standard,prl-l,co-prl-l seed=0,1,2
    python run.py resume=outputs/2026-11-28/12-00-00  # continue an interrupted run
"""

import sys

import hydra
from omegaconf import DictConfig

from prl.runner import expand_resume
from prl.runner import main as run_main


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig):
    return run_main(cfg)


if __name__ == "__main__":
    sys.argv = expand_resume(sys.argv)
    main()
