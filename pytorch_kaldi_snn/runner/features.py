"""Features: ``fea_lst`` through kaldiio and the common ``fea_opts`` Kaldi pipes
in Python.

A PyTorch-Kaldi dataset names its features as ``fea_lst`` (an scp or ark) plus
``fea_opts``, a Kaldi command pipe such as::

    apply-cmvn --utt2spk=ark:data/train/utt2spk scp:data/train/cmvn.scp ark:- ark:- |
    add-deltas --delta-order=2 ark:- ark:- |

The pipe is parsed once into typed steps (:func:`parse_fea_opts`) and applied per
utterance by pure functions:

- ``apply-cmvn`` (Kaldi stats ``[2, D+1]``: sums and count, then sums of squares)::

      mu = s[0, :D] / n;   var = s[1, :D] / n - mu^2;   y = (x - mu) / sqrt(var) if
      --norm-vars else x - mu

- ``add-deltas`` (``--delta-order``, ``--delta-window`` N): order-k coefficients are the
  k-fold convolution of the kernel ``n / (2 sum_{m=1..N} m^2)``, n = -N..N, applied to
  the static features with frame indices clamped to the utterance, as Kaldi does.
- ``splice-feats`` / ``cw_left``/``cw_right``: frame t becomes the concatenation of
  frames t-L..t+R (indices clamped). Upstream PyTorch-Kaldi builds its context window
  over a whole chunk and drops the first L and last R frames of the chunk; we splice
  within each utterance so lengths and labels stay aligned.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import kaldiio
import numpy as np

from pytorch_kaldi_snn.errors import ConfigError, DataError
from pytorch_kaldi_snn.runner.feature_tables import FeatureTable, check_matrix

logger = logging.getLogger(__name__)

KNOWN_COMMANDS = ("apply-cmvn", "add-deltas", "splice-feats", "copy-feats")


@dataclass(frozen=True)
class PipeStep:
    """One command of a ``fea_opts`` pipe: its name, ``--key=value`` options and
    positional arguments (rspecifiers/wspecifiers)."""

    command: str
    options: dict = field(default_factory=dict)
    args: tuple = ()


def _bool_opt(value: str) -> bool:
    return value.lower() in ("true", "1", "")


def parse_fea_opts(text: str, *, section: str = "dataset", file: str | None = None,
                   key: str = "fea_opts") -> list[PipeStep]:
    """Split a Kaldi pipe into :class:`PipeStep` s; unknown commands raise ConfigError.

    >>> [s.command for s in parse_fea_opts("add-deltas --delta-order=1 ark:- ark:- |")]
    ['add-deltas']
    """
    steps: list[PipeStep] = []
    for part in text.split("|"):
        part = part.strip()
        if not part:
            continue
        try:
            tokens = shlex.split(part)
        except ValueError as exc:
            raise ConfigError(f"cannot parse pipe: {exc}", file=file, section=section,
                              key=key, value=part) from None
        command, options, args = tokens[0], {}, []
        for tok in tokens[1:]:
            if tok.startswith("--"):
                name, _, value = tok[2:].partition("=")
                options[name.replace("_", "-")] = value
            else:
                args.append(tok)
        if command not in KNOWN_COMMANDS:
            raise ConfigError(
                "unknown command in the feature pipe", file=file, section=section,
                key=key, value=command, allowed=", ".join(KNOWN_COMMANDS),
            )
        steps.append(PipeStep(command, options, tuple(args)))
    return steps


def read_table(rspecifier: str, what: str = "features") -> Mapping[str, np.ndarray]:
    """Read a Kaldi table given as ``scp:path``, ``ark:path`` or a bare path
    (``.scp`` suffix means scp): a lazy, checked mapping (see
    :mod:`pytorch_kaldi_snn.runner.feature_tables`)."""
    return FeatureTable(rspecifier, what)


def read_utt2spk(rspecifier: str) -> dict[str, str]:
    """Read a text ``utt spk`` map given as ``ark:path`` or a path."""
    path = rspecifier.split(":", 1)[1] if ":" in rspecifier else rspecifier
    if not os.path.exists(path):
        raise DataError(f"{rspecifier}: utt2spk file not found")
    out = {}
    with open(path) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0]] = parts[1]
    return out


def apply_cmvn(x: np.ndarray, stats: np.ndarray, norm_vars: bool = False,
               norm_means: bool = True) -> np.ndarray:
    """Kaldi's apply-cmvn for one utterance (see module docstring)."""
    stats = np.asarray(stats, dtype=np.float64)
    dim = x.shape[1]
    if stats.shape != (2, dim + 1):
        raise DataError(f"cmvn stats of shape {stats.shape} do not fit {dim}-dim "
                        "features")
    count = stats[0, dim]
    if count < 1.0:
        raise DataError("cmvn stats with a count below 1")
    mean = stats[0, :dim] / count
    y = x.astype(np.float64)
    if norm_means:
        y = y - mean
    if norm_vars:
        var = np.maximum(stats[1, :dim] / count - mean ** 2, 1.0e-10)
        y = y / np.sqrt(var)
    return y.astype(np.float32)


def delta_kernels(order: int, window: int) -> list[np.ndarray]:
    """Kaldi's DeltaFeatures scales: kernel k is the k-fold convolution of the delta
    filter.

    >>> [k.tolist() for k in delta_kernels(1, 1)]
    [[1.0], [-0.5, 0.0, 0.5]]
    """
    base = np.arange(-window, window + 1, dtype=np.float64)
    base /= 2.0 * np.sum(np.arange(1, window + 1) ** 2)
    kernels = [np.ones(1)]
    for _ in range(order):
        kernels.append(np.convolve(kernels[-1], base))
    return kernels


def add_deltas(x: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Static features followed by their 1st..order-th deltas ``[T, D*(order+1)]``."""
    t_len = x.shape[0]
    out = []
    for kernel in delta_kernels(order, window):
        half = (len(kernel) - 1) // 2
        acc = np.zeros_like(x, dtype=np.float64)
        for j, w in enumerate(kernel):
            if w == 0.0:
                continue
            idx = np.clip(np.arange(t_len) + j - half, 0, t_len - 1)
            acc += w * x[idx]
        out.append(acc)
    return np.concatenate(out, axis=1).astype(np.float32)


def splice(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Concatenate frames t-left..t+right for every t (clamped) ->
    ``[T, D*(L+R+1)]``."""
    if left == 0 and right == 0:
        return x
    t_len = x.shape[0]
    parts = [x[np.clip(np.arange(t_len) + o, 0, t_len - 1)]
             for o in range(-left, right + 1)]
    return np.concatenate(parts, axis=1)


def _int_opt(step: PipeStep, name: str, default: int, section: str, key: str) -> int:
    value = step.options.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{step.command} --{name} must be an integer",
                          section=section, key=key, value=value) from None


@dataclass
class FeaturePipeline:
    """A parsed ``fea_opts`` pipe bound to its side tables (cmvn stats, utt2spk)."""

    steps: list[PipeStep]
    section: str = "dataset"
    key: str = "fea_opts"
    _cmvn: dict = field(default_factory=dict)
    _utt2spk: dict = field(default_factory=dict)

    def apply(self, utt: str, x: np.ndarray) -> np.ndarray:
        """Run every step on one utterance's ``[T, D]`` features."""
        x = np.asarray(x, dtype=np.float32)
        for i, step in enumerate(self.steps):
            if step.command == "apply-cmvn":
                x = self._cmvn_step(i, step, utt, x)
            elif step.command == "add-deltas":
                order = _int_opt(step, "delta-order", 2, self.section, self.key)
                window = _int_opt(step, "delta-window", 2, self.section, self.key)
                x = add_deltas(x, order, window)
            elif step.command == "splice-feats":
                left = _int_opt(step, "left-context", 4, self.section, self.key)
                right = _int_opt(step, "right-context", 4, self.section, self.key)
                x = splice(x, left, right)
        return x

    def _cmvn_step(self, i: int, step: PipeStep, utt: str, x: np.ndarray) -> np.ndarray:
        stats_spec = next((a for a in step.args if a not in ("ark:-", "-")), None)
        if stats_spec is None:
            raise ConfigError("apply-cmvn needs a stats rspecifier",
                              section=self.section, key=self.key)
        if i not in self._cmvn:
            self._cmvn[i] = read_table(stats_spec, "cmvn stats")
            spk = step.options.get("utt2spk")
            self._utt2spk[i] = read_utt2spk(spk) if spk else {}
        key = self._utt2spk[i].get(utt, utt)
        try:
            stats = self._cmvn[i][key]
        except KeyError:
            raise DataError(f"{stats_spec}: no cmvn stats for {key!r} "
                            f"(utterance {utt})") from None
        if stats.shape != (2, x.shape[1] + 1):
            raise DataError(f"{stats_spec} ([{self.section}] {self.key}): cmvn stats "
                            f"of {key!r} have shape {stats.shape}, utterance {utt} has "
                            f"{x.shape[1]}-dim features; allowed: stats of shape "
                            f"(2, {x.shape[1] + 1})")
        return apply_cmvn(
            x, stats,
            norm_vars=_bool_opt(step.options.get("norm-vars", "false")),
            norm_means=_bool_opt(step.options.get("norm-means", "true")),
        )


def load_features(fea_lst: str, fea_opts: str, cw_left: int, cw_right: int,
                  utts: Iterable[str] | None = None, *, section: str = "dataset",
                  ) -> dict[str, np.ndarray]:
    """Load, transform and context-window the features of one ``fea`` entry.

    ``utts`` restricts (and orders) the utterances read; missing ones raise DataError.
    """
    steps = parse_fea_opts(fea_opts, section=section)
    if kaldi_binaries_for(steps):
        return _load_with_kaldi(fea_lst, fea_opts, cw_left, cw_right, utts)
    pipe = FeaturePipeline(steps, section=section)
    table = read_table(fea_lst)
    keys = list(table.keys()) if utts is None else list(utts)
    out = {}
    for utt in keys:
        try:
            raw = table[utt]  # checked: finite, 2-D, the table's dimension
        except KeyError:
            raise DataError(f"{fea_lst}: utterance {utt!r} not found") from None
        y = check_matrix(pipe.apply(utt, raw), utt,
                         f"{fea_lst} after fea_opts [{section}]")
        out[utt] = splice(y, cw_left, cw_right)
    return out


def kaldi_binaries_for(steps: list[PipeStep]) -> bool:
    """True when ``KALDI_ROOT`` is set and every command of the pipe is on PATH: the
    pipe then runs as written, through real Kaldi."""
    if not os.environ.get("KALDI_ROOT") or not steps:
        return False
    return all(shutil.which(s.command) for s in [*steps, PipeStep("copy-feats")])


def _load_with_kaldi(fea_lst: str, fea_opts: str, cw_left: int, cw_right: int,
                     utts: Iterable[str] | None) -> dict[str, np.ndarray]:
    opts = fea_opts.strip()
    if not opts.endswith("|"):
        opts += " |"
    rspec = f"ark:copy-feats scp:{fea_lst} ark:- | {opts}"
    try:
        with kaldiio.ReadHelper(rspec) as reader:
            table = {k: check_matrix(np.asarray(v, dtype=np.float32), k,
                                     f"{fea_lst} through Kaldi's {opts}")
                     for k, v in reader}
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - kaldiio/subprocess failures
        raise DataError(f"{fea_lst}: the Kaldi pipe {opts!r} failed: "
                        f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                        ) from None
    keys = list(table) if utts is None else list(utts)
    missing = [u for u in keys if u not in table]
    if missing:
        raise DataError(f"{fea_lst}: utterance {missing[0]!r} not produced by the pipe")
    return {u: splice(table[u], cw_left, cw_right) for u in keys}


def list_utterances(fea_lst: str) -> list[str]:
    """Utterance ids of an scp/ark in file order (DataError when there are none)."""
    return list(read_table(fea_lst).keys())
