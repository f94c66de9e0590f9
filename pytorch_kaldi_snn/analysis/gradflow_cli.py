"""``pytorch-kaldi-snn grad-flow --out DIR [--exp EXP ...]``: gradient flow vs time
distance.

Writes ``DIR/gradflow.csv`` and ``DIR/gradflow.png`` (log y axis) for the traditional,
v1, v2, GRU and LSTM layers at random initialisation and/or, with ``--exp`` (an
experiment folder, repeatable), for the first recurrent layer of trained models on
their own test features; prints the normalised gradient at a few distances. See
:mod:`pytorch_kaldi_snn.analysis.gradflow` and :mod:`.gradflow_trained`.
"""

from __future__ import annotations

import argparse
import logging
import os

from tqdm import tqdm

from pytorch_kaldi_snn.analysis import gradflow
from pytorch_kaldi_snn.errors import ConfigError

logger = logging.getLogger(__name__)


def _bits(text: str) -> int | None:
    if text.strip().lower() in ("full", "none", "fp"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--bits must be an integer 1..16 or 'full', got {text!r}"
        ) from None
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"--bits must be in 1..16, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``grad-flow``."""
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument(
        "--models", default=None,
        help="layers at initialisation: comma-separated subset of "
        + ",".join(gradflow.MODELS) + " (default: all of them without --exp, "
        "none with --exp)",
    )
    parser.add_argument(
        "--exp", action="append", default=[], metavar="EXP_DIR",
        help="trained experiment folder (exp.cfg, exp_files/final_architecture1.pkl); "
        "repeatable; its first recurrent layer on windows of its test features",
    )
    parser.add_argument("--input", type=int, default=40, help="input features (F)")
    parser.add_argument("--hidden", type=int, default=128, help="neurons per layer (H)")
    parser.add_argument(
        "--frames", type=int, default=60, help="sequence length (frames)"
    )
    parser.add_argument("--batch", type=int, default=16, help="random sequences")
    parser.add_argument(
        "--bits", type=_bits, default=None,
        help="spike output bits 1..16 or 'full' (default: full precision)",
    )
    parser.add_argument("--k", type=int, default=4, help="threshold gamma = k b / 2^N")
    parser.add_argument(
        "--beta", type=float, default=0.9, help="traditional synaptic decay beta"
    )
    parser.add_argument(
        "--forget-bias", type=float, default=0.0,
        help="added to the v1/v2 forget-gate pre-activation (0 = plain init)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def run(args: argparse.Namespace) -> int:
    """Compute the curves, write CSV and PNG, print a summary table."""
    text = args.models if args.models is not None else (
        "" if args.exp else ",".join(gradflow.MODELS))
    models = [m.strip() for m in text.split(",") if m.strip()]
    for m in models:
        if m not in gradflow.MODELS:
            raise ConfigError(
                "unknown model", key="--models", value=m,
                allowed=", ".join(gradflow.MODELS),
            )
    for key, value in (("--input", args.input), ("--hidden", args.hidden),
                       ("--frames", args.frames), ("--batch", args.batch)):
        if value < 1:
            raise ConfigError("must be >= 1", key=key, value=str(value))
    curves = []
    for m in tqdm(models, desc="grad-flow", disable=None):
        curves.append(gradflow.gradient_flow(
            m, input_size=args.input, hidden_size=args.hidden, frames=args.frames,
            batch=args.batch, n_bits=args.bits, k=args.k, beta=args.beta,
            forget_bias=args.forget_bias, seed=args.seed,
        ))
    if args.exp:
        from pytorch_kaldi_snn.analysis.gradflow_trained import trained_gradient_flow

        for exp in tqdm(args.exp, desc="grad-flow (trained)", disable=None):
            curves.append(trained_gradient_flow(exp, frames=args.frames,
                                                batch=args.batch, seed=args.seed))
    if not curves:
        raise ConfigError("nothing to measure", key="--models", value=text,
                          allowed="--models and/or --exp")
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "gradflow.csv")
    png_path = os.path.join(args.out, "gradflow.png")
    gradflow.write_csv(csv_path, curves)
    bits = "full precision" if args.bits is None else f"{args.bits} bits"
    parts = ([f"at init ({bits})"] if models else []) + (
        ["after training (real features)"] if args.exp else [])
    gradflow.plot(png_path, curves, title="gradient flow " + " and ".join(parts))
    marks = sorted({d for d in (1, 10, 30, args.frames - 1) if d < args.frames})
    print("normalised gradient g(d)/g(0) at distance d")
    width = max(13, *(len(c.model) + 1 for c in curves))
    print(f"{'model':<{width}}" + "".join(f"{'d=' + str(d):>12}" for d in marks))
    for c in curves:
        norm = c.normalised()
        print(f"{c.model:<{width}}" + "".join(f"{norm[d]:>12.3e}" for d in marks))
    print(f"wrote {csv_path} and {png_path}")
    return 0
