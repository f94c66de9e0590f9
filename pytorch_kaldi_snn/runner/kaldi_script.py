"""Decoding through real Kaldi: PyTorch-Kaldi's ``decode_dnn.sh`` call, as upstream
makes it.

Used when ``KALDI_ROOT`` is set and
``[decoding] decoding_script_folder/decoding_script`` exists. The runner writes
``<out_folder>/decoding_<data>_<out>.conf`` (a ``[decoding]`` section: every key of the
cfg's ``[decoding]`` plus ``alidir``, ``data`` and ``graphdir`` from the forward
dataset's ``lab``) and runs::

    <cmd><folder>/<script> <conf> <out_folder>/decode_<data>_<out> "<ark glob>"

then reads the scoring results Kaldi's ``score.sh`` leaves, one per LM weight and
insertion penalty: the ``%WER`` line of each ``wer_*`` file and the ``Sum/Avg`` line of
each ``score_*/*.sys`` file. :func:`best_wer` is their lowest error, what upstream's
``check_res_dec.sh`` reports (the best on the scored set itself);
:func:`dev_selected_wer` is the result of the same file (same LM weight and penalty)
that is best on a dev decode folder, the number to report for test.
"""

from __future__ import annotations

import configparser
import glob
import logging
import os
import re
import subprocess
from collections.abc import Mapping

from pytorch_kaldi_snn.errors import DataError

logger = logging.getLogger(__name__)

_WER_LINE = re.compile(r"%WER\s+([0-9.]+)")
_SYS_LINE = re.compile(r"Sum/Avg\s*\|\s*[0-9.]+\s+[0-9.]+\s*\|(.*)\|")


def script_path(decoding: Mapping[str, str] | None) -> str | None:
    """The decoding script to run, or None when real Kaldi is not to be used."""
    if not decoding or not os.environ.get("KALDI_ROOT"):
        return None
    folder = decoding.get("decoding_script_folder", "")
    path = os.path.join(folder, decoding.get("decoding_script", ""))
    return path if os.path.isfile(path) else None


def scoring_results(decode_dir: str) -> dict[str, tuple[str, float]]:
    """Every scoring result of a decode dir: its path relative to the dir
    (``wer_7_0.5``, ``score_7/ctm.sys``) -> (``%WER`` line, error). A sclite
    ``Sum/Avg`` line is rewritten as ``%WER <err> | ... | <file>``, the form of
    upstream's TIMIT results."""
    found: dict[str, tuple[str, float]] = {}
    for path in sorted(glob.glob(os.path.join(decode_dir, "wer_*"))):
        with open(path, errors="replace") as fh:
            for line in fh:
                m = _WER_LINE.search(line)
                if m:
                    found[os.path.relpath(path, decode_dir)] = (
                        f"{line.strip()} {path}", float(m.group(1)))
                    break
    for path in sorted(glob.glob(os.path.join(decode_dir, "*score_*", "*.sys"))):
        with open(path, errors="replace") as fh:
            for line in fh:
                m = _SYS_LINE.search(line)
                if not m:
                    continue
                fields = m.group(1).split()
                if len(fields) < 5:
                    continue
                err = float(fields[4])
                parts = [" ".join(p.split()) for p in line.split("|")[2:] if p.strip()]
                found[os.path.relpath(path, decode_dir)] = (
                    " | ".join([f"%WER {err}", *parts, path]), err)
                break
    return found


def best_wer(decode_dir: str) -> tuple[str, float] | None:
    """The lowest-error scoring result of a decode dir (the first of equal ones in
    file order: wer_* files, then sclite .sys files), or None without any."""
    found = scoring_results(decode_dir)
    if not found:
        return None
    return min(found.values(), key=lambda r: r[1])


def dev_selected_wer(decode_dir: str, dev_dir: str) -> tuple[str, float] | None:
    """The result in ``decode_dir`` of the scoring file that is best in ``dev_dir``
    (Kaldi names the file by LM weight and insertion penalty, so the same name is the
    same setting), its line ending in ``(chosen on <dev_dir>: <file>)``; None when the
    dev folder has no results or ``decode_dir`` lacks that file."""
    dev = scoring_results(dev_dir)
    if not dev:
        return None
    rel = min(dev, key=lambda k: dev[k][1])
    mine = scoring_results(decode_dir).get(rel)
    if mine is None:
        logger.warning("%s has no %s (the best setting on %s); reporting its own best",
                       decode_dir, rel, dev_dir)
        return None
    return f"{mine[0]} (chosen on {dev_dir}: {rel})", mine[1]


def run_decoding_script(script: str, decoding: Mapping[str, str], cmd: str,
                        out_folder: str, data: str, out: str, ark_glob: str,
                        alidir: str, datadir: str, graphdir: str) -> tuple[str, float]:
    """Write the decoding conf, run the script, return the best %WER line and value."""
    conf_path = os.path.join(out_folder, f"decoding_{data}_{out}.conf")
    conf = configparser.ConfigParser(interpolation=None)
    conf.add_section("decoding")
    for key, value in decoding.items():
        conf.set("decoding", key, str(value))
    conf.set("decoding", "alidir", os.path.abspath(alidir))
    conf.set("decoding", "data", os.path.abspath(datadir))
    conf.set("decoding", "graphdir", os.path.abspath(graphdir))
    with open(conf_path, "w") as fh:
        conf.write(fh)
    dec_dir = os.path.abspath(os.path.join(out_folder, f"decode_{data}_{out}"))
    command = f'{cmd}{script} {os.path.abspath(conf_path)} {dec_dir} "{ark_glob}"'
    logger.info("decoding: %s", command)
    log_path = os.path.join(out_folder, "log.log")
    with open(log_path, "a") as log:
        rc = subprocess.call(command, shell=True, stdout=log, stderr=log)
    if rc != 0:
        raise DataError(f"{script} failed with exit status {rc}; see {log_path}")
    best = best_wer(dec_dir)
    if best is None:
        raise DataError(f"{dec_dir}: the decoding script wrote no wer_* or .sys result")
    return best
