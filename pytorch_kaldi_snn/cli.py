"""The ``pytorch-kaldi-snn`` console script: one entry point, many subcommands.

Each subcommand lives in its own module, which defines ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their subcommand runs, so
``--help`` stays fast and a broken optional dependency cannot break unrelated commands.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from typing import List, Optional

from pytorch_kaldi_snn import __version__
from pytorch_kaldi_snn.errors import SnnKaldiError

# name -> (module, one-line help)
SUBCOMMANDS = {
    "run": ("pytorch_kaldi_snn.runner.cli", "train/forward/decode an experiment cfg"),
    "make-corpus": ("pytorch_kaldi_snn.corpus.cli",
                    "synthesise the built-in demo corpus"),
    "align": ("pytorch_kaldi_snn.kaldi.cli_align",
              "monophone GMM-HMM training and alignment"),
    "mkgraph": ("pytorch_kaldi_snn.kaldi.cli_mkgraph", "build phone/word HCLG graphs"),
    "decode": ("pytorch_kaldi_snn.kaldi.cli_decode",
               "decode network log-likelihoods with HCLG"),
    "score": ("pytorch_kaldi_snn.kaldi.cli_score",
              "score hypotheses: %%WER / PER lines"),
    "count-ops": ("pytorch_kaldi_snn.ops.cli",
                  "operation and sparsity counts (Table 1)"),
    "grad-flow": ("pytorch_kaldi_snn.analysis.gradflow_cli",
                  "gradient flow vs time distance"),
    "install-into": ("pytorch_kaldi_snn.pytorch_kaldi.install",
                     "copy cfg/proto into PyTorch-Kaldi"),
    "export": ("pytorch_kaldi_snn.export_cli",
               "export a trained SNN to TorchScript or ONNX"),
    "prepare-timit": ("pytorch_kaldi_snn.datasets.timit",
                      "Kaldi data dirs and dict from the LDC TIMIT folder"),
    "prepare-librispeech": ("pytorch_kaldi_snn.datasets.librispeech",
                            "Kaldi data dirs and dict from LibriSpeech parts"),
    "compute-features": ("pytorch_kaldi_snn.datasets.features",
                         "MFCC or fbank features + CMVN stats of a data dir"),
    "prepare-lang": ("pytorch_kaldi_snn.datasets.lang",
                     "lang folder (phones, words, topo) from a dict folder"),
}


def _available() -> dict:
    found = {}
    for name, (module, text) in SUBCOMMANDS.items():
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            found[name] = (module, text)
    return found


def build_parser(with_subcommand: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytorch-kaldi-snn",
        description="Spiking neural networks (Ponghiran & Roy, AAAI 2022) for "
        "PyTorch-Kaldi speech recognition.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="more log output (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, text) in _available().items():
        sp = sub.add_parser(name, help=text, description=text.replace("%%", "%"))
        if name == with_subcommand:
            importlib.import_module(module).add_arguments(sp)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * (verbosity + 1)
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _passive_omp_wait() -> None:
    """Let idle OpenMP workers sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``,
    unless set already): with spinning workers two threads ran 14x slower than one on
    a busy machine (docs/speed.md, Threads). The OpenMP runtime reads the variable when
    torch loads it, so this only counts before the first ``import torch``."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: Optional[List[str]] = None) -> int:
    _passive_omp_wait()
    argv = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    chosen = next((a for a in argv if a in available), None)
    parser = build_parser(chosen)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args.verbose)
    module = importlib.import_module(available[args.command][0])
    try:
        return int(module.run(args) or 0)
    except (SnnKaldiError, OSError) as exc:  # user errors: bad input, missing files
        print(f"pytorch-kaldi-snn {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
