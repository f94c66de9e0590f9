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

USAGE = "PROG [--stage {all,train,forward}] [--threads N] CFG " \
        "[--section,field=value ...]"


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


def _split_options(items: list[str], stage: str,
                   threads: int) -> tuple[list[str], str, int]:
    """Take ``--stage X`` and ``--threads N`` out of the remainder (they may follow the
    cfg, where argparse leaves them to the overrides)."""
    rest = []
    values = {"--stage": stage, "--threads": str(threads)}
    it = iter(items)
    for item in it:
        name, eq, value = item.partition("=")
        if name in values:
            values[name] = value if eq else next(it, values[name])
        else:
            rest.append(item)
    stage = values["--stage"]
    if stage not in ("all", "train", "forward"):
        raise ConfigError("unknown --stage", value=stage, allowed="all, train, forward")
    if not values["--threads"].isdigit():
        raise ConfigError("--threads must be a non-negative integer",
                          value=values["--threads"])
    return rest, stage, int(values["--threads"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``run``."""
    parser.usage = USAGE.replace("PROG", "%(prog)s")
    parser.add_argument("cfg", metavar="CFG",
                        help="experiment cfg file (PyTorch-Kaldi format); required")
    overrides = parser.add_argument(
        "overrides", nargs=argparse.REMAINDER, metavar="--section,field=value",
        help="optional: override cfg values, as upstream run_exp.py accepts them",
    )
    overrides.required = False  # argparse would list it as required when CFG is absent
    parser.add_argument(
        "--stage", choices=("all", "train", "forward"), default="all",
        help="all: train then forward/decode; train: training only; forward: forward "
        "and decode with the final checkpoints",
    )
    parser.add_argument(
        "--restart", action="store_true",
        help="delete what the out_folder holds from earlier runs (checkpoints, "
        "res.res, conf.cfg, forward and decoding outputs) and train from scratch; "
        "needed to rerun a folder with a changed cfg",
    )
    parser.add_argument(
        "--threads", type=int, default=0, metavar="N",
        help="CPU threads per process for torch (0: OMP_NUM_THREADS when set, else 1; "
        "recurrent steps are small matrix products that extra threads slow down, "
        "badly so on a loaded machine)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the experiment; returns the exit status."""
    from pytorch_kaldi_snn.runner.pipeline import run_experiment

    items, stage, threads = _split_options(list(args.overrides), args.stage,
                                           args.threads)
    restart = args.restart or "--restart" in items
    items = [i for i in items if i != "--restart"]
    parse_overrides(items)  # one clear error for a malformed override
    run_experiment(args.cfg, ["--" + i.removeprefix("--") for i in items], stage=stage,
                   threads=threads, restart=restart)
    return 0


def main_run_exp(argv: list[str] | None = None) -> int:
    """``python run_exp.py CFG [--section,field=value ...]`` (the repo-root shim).

    Without arguments it prints the usage and that a cfg file is required (exit 2).
    """
    import sys

    from pytorch_kaldi_snn import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: " + USAGE.replace("PROG", "python run_exp.py"), file=sys.stderr)
        print("run_exp.py: error: a cfg file is required (the --section,field=value "
              "overrides are optional)", file=sys.stderr)
        return 2
    return cli.main(["run", *argv])
