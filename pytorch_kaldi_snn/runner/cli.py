"""The ``run`` subcommand: ``pytorch-kaldi-snn run CFG [--section,field=value ...]``.

Trains, forwards, decodes and scores one experiment cfg, like PyTorch-Kaldi's
``run_exp.py``. Overrides use upstream's syntax, e.g. ``--exp,n_epochs_tr=2`` or
``--batches,batch_size_train=8``. Errors in the cfg print one line and exit non-zero
before any checkpoint is written.
"""

from __future__ import annotations

import argparse
import logging

from pytorch_kaldi_snn.errors import ConfigError

logger = logging.getLogger(__name__)


def parse_overrides(items: list[str]) -> dict[tuple[str, str], str]:
    """``["--exp,seed=3"]`` -> ``{("exp", "seed"): "3"}`` (also without the dashes).

    >>> parse_overrides(["--exp,seed=3", "batches,batch_size_train=4"])
    {('exp', 'seed'): '3', ('batches', 'batch_size_train'): '4'}
    """
    out = {}
    for item in items:
        text = item.removeprefix("--")
        head, eq, value = text.partition("=")
        section, comma, key = head.partition(",")
        if not eq or not comma or not section.strip() or not key.strip():
            raise ConfigError("an override must look like --section,field=value",
                              value=item)
        out[(section.strip(), key.strip())] = value
    return out


def _split_stage(items: list[str], stage: str) -> tuple[list[str], str]:
    """Take ``--stage X`` out of the remainder (it may follow the cfg)."""
    rest = []
    it = iter(items)
    for item in it:
        if item == "--stage":
            stage = next(it, stage)
        elif item.startswith("--stage="):
            stage = item.split("=", 1)[1]
        else:
            rest.append(item)
    if stage not in ("all", "train", "forward"):
        raise ConfigError("unknown --stage", value=stage, allowed="all, train, forward")
    return rest, stage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``run``."""
    parser.add_argument("cfg", help="experiment cfg file (PyTorch-Kaldi format)")
    parser.add_argument(
        "overrides", nargs=argparse.REMAINDER, metavar="--section,field=value",
        help="override cfg values, as upstream run_exp.py accepts them",
    )
    parser.add_argument(
        "--stage", choices=("all", "train", "forward"), default="all",
        help="all: train then forward/decode; train: training only; forward: forward "
        "and decode with the final checkpoints",
    )


def run(args: argparse.Namespace) -> int:
    """Run the experiment; returns the exit status."""
    from pytorch_kaldi_snn.runner.pipeline import run_experiment

    items, stage = _split_stage(list(args.overrides), args.stage)
    parse_overrides(items)  # one clear error for a malformed override
    run_experiment(args.cfg, ["--" + i.removeprefix("--") for i in items], stage=stage)
    return 0


def main_run_exp(argv: list[str] | None = None) -> int:
    """``python run_exp.py CFG [--section,field=value ...]`` (the repo-root shim).

    """
    import sys

    from pytorch_kaldi_snn import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.main(["run", *argv])
