"""A thin bridge to real Kaldi binaries, used only when ``KALDI_ROOT`` is set.

Same inputs and outputs as :func:`.latgen.decode_loglikes` (an ark of ``[T, num_pdfs]``
pseudo log-likelihoods, a graph folder, an output folder with ``hyp_<LMWT>_<WIP>.txt``),
but the work is done by ``latgen-faster-mapped`` and ``lattice-scale |
lattice-add-penalty | lattice-best-path``, as Kaldi's decode and score scripts do. The
graph folder must then hold a real Kaldi ``final.mdl`` next to ``HCLG.fst`` (our
pickled model cannot be read by Kaldi). Not exercised by the test suite (no Kaldi here).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import write_text

logger = logging.getLogger(__name__)
TOOLS = ("latgen-faster-mapped", "lattice-scale", "lattice-add-penalty",
         "lattice-best-path", "int2sym.pl")


def kaldi_available() -> bool:
    """True when KALDI_ROOT is set and the decoding binaries are on PATH."""
    return bool(os.environ.get("KALDI_ROOT")) and all(shutil.which(t) for t in TOOLS)


def _run(cmd: str, where: str) -> str:
    logger.debug("running %s", cmd)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=False,
                          capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise DataError(f"{where}: Kaldi command failed ({proc.returncode}): {cmd}\n"
                        f"{proc.stderr.strip()[-2000:]}")
    return proc.stdout


def decode_with_kaldi(ark: str, graph_dir, out_dir, *, acwt: float = 0.1,
                      beam: float = 13.0, latbeam: float = 8.0, max_active: int = 7000,
                      lmwts: Iterable[float] = range(1, 21),
                      wips: Iterable[float] = (0.0, 0.5, 1.0)) -> Path:
    """Decode ``ark`` with real Kaldi; writes ``lat.1.gz`` and the hypothesis files."""
    if not kaldi_available():
        raise DataError("real Kaldi decoding needs KALDI_ROOT set and "
                        f"{', '.join(TOOLS)} on PATH")
    graph_dir, out_dir = Path(graph_dir), Path(out_dir)
    model = graph_dir / "final.mdl"
    for need in (model, graph_dir / "HCLG.fst", graph_dir / "words.txt"):
        if not need.is_file():
            raise DataError(f"{need}: missing (a real Kaldi graph folder is needed)")
    out_dir.mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    lat = out_dir / "lat.1.gz"
    _run(f"latgen-faster-mapped --acoustic-scale={acwt} --beam={beam} "
         f"--lattice-beam={latbeam} --max-active={max_active} --allow-partial=true "
         f"--word-symbol-table={q(str(graph_dir / 'words.txt'))} {q(str(model))} "
         f"{q(str(graph_dir / 'HCLG.fst'))} ark:{q(ark)} "
         f"\"ark:|gzip -c > {lat}.tmp\" && mv {lat}.tmp {lat}", str(ark))
    for lmwt in lmwts:
        for wip in wips:
            text = _run(f"lattice-scale --inv-acoustic-scale={lmwt} "
                        f"\"ark:gunzip -c {lat}|\" ark:- | lattice-add-penalty "
                        f"--word-ins-penalty={wip} ark:- ark:- | lattice-best-path "
                        "ark:- ark,t:- | int2sym.pl -f 2- "
                        f"{q(str(graph_dir / 'words.txt'))}", str(lat))
            name = f"hyp_{_fmt(lmwt)}_{_fmt(wip)}.txt"
            write_text(out_dir / name, text)
    kind = graph_dir / "graph_kind"
    write_text(out_dir / "graph_kind",
               (kind.read_text().strip() if kind.is_file() else "word") + "\n")
    return out_dir


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
