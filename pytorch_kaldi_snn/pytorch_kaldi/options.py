"""Typed parsing of PyTorch-Kaldi architecture sections (strings -> dataclasses).

This is the only place that turns cfg strings into numbers for our classes. Every error
is a :class:`~pytorch_kaldi_snn.errors.ConfigError` naming the class, the key, the value
and what is allowed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Callable, TypeVar

from pytorch_kaldi_snn.errors import ConfigError, DataError

T = TypeVar("T")
_TRUE = {"True", "true", "1"}
_FALSE = {"False", "false", "0"}
# Keys the host (or our runner) puts into every architecture section.
HOST_PREFIXES = ("arch_", "opt_")
HOST_KEYS = {"use_cuda", "to_do"}
# open recorders of the defaults OptionReader.raw filled in (see recording_defaults)
_recorders: list[dict[tuple[str | None, str], str]] = []


@contextlib.contextmanager
def recording_defaults() -> Iterator[dict[tuple[str | None, str], str]]:
    """Collect ``(section, key) -> default`` for every option a class read from its
    default while the block runs (the runner writes them into the effective cfg)."""
    seen: dict[tuple[str | None, str], str] = {}
    _recorders.append(seen)
    try:
        yield seen
    finally:
        _recorders.remove(seen)


class OptionReader:
    """Reads typed values from one cfg section for one class, with located errors."""

    def __init__(self, options: Mapping[str, str], owner: str) -> None:
        self.options = options
        self.owner = owner
        parser = getattr(options, "parser", None)
        self.section = getattr(options, "name", None)
        self.file = None
        if parser is not None:
            self.file = getattr(parser, "_snn_source_file", None)

    def _error(self, problem: str, key: str, value: str | None, allowed: str):
        return ConfigError(
            f"{self.owner}: {problem}",
            file=self.file,
            section=self.section,
            key=key,
            value=value,
            allowed=allowed,
        )

    def raw(self, key: str, default: str | None = None) -> str:
        if key in self.options:
            value = str(self.options[key]).strip()
            if value == "":
                raise self._error("empty value", key, value, "a non-empty value")
            return value
        if default is None:
            raise self._error("missing option", key, None, "see the class's proto file")
        for seen in _recorders:
            seen[(self.section, key)] = default
        return default

    def _one(
        self,
        key: str,
        text: str,
        cast: Callable[[str], T],
        allowed: str,
        check: Callable[[T], bool],
        shown: str | None = None,
    ) -> T:
        shown = text if shown is None else shown
        try:
            value = cast(text.strip())
        except ValueError:
            raise self._error(
                f"malformed value {text.strip()!r}", key, shown, allowed
            ) from None
        if not check(value):
            raise self._error(
                f"value {text.strip()!r} out of range", key, shown, allowed
            )
        return value

    def int(self, key: str, lo: int, hi: int, default: str | None = None) -> int:
        return self._one(
            key,
            self.raw(key, default),
            _int,
            f"an integer in [{lo}, {hi}]",
            lambda v: lo <= v <= hi,
        )

    def float(
        self, key: str, lo: float, hi: float, default: str | None = None
    ) -> float:
        return self._one(
            key,
            self.raw(key, default),
            float,
            f"a number in [{lo}, {hi}]",
            lambda v: lo <= v <= hi,
        )

    def bool(self, key: str, default: str | None = None) -> bool:
        return self._one(
            key,
            self.raw(key, default),
            _bool,
            "True/true/1/False/false/0",
            lambda v: True,
        )

    def choice(self, key: str, choices: list[str], default: str | None = None) -> str:
        value = self.raw(key, default)
        if value not in choices:
            raise self._error("unknown value", key, value, ", ".join(choices))
        return value

    def int_list(self, key: str, lo: int, hi: int) -> list[int]:
        text = self.raw(key)
        return [
            self._one(
                key,
                t,
                _int,
                f"comma-separated integers in [{lo}, {hi}]",
                lambda v: lo <= v <= hi,
                text,
            )
            for t in text.split(",")
        ]

    def float_list(self, key: str, lo: float, hi: float, n: int) -> list[float]:
        text = self.raw(key)
        values = [
            self._one(
                key,
                t,
                float,
                f"comma-separated numbers in [{lo}, {hi}]",
                lambda v: lo <= v <= hi,
                text,
            )
            for t in text.split(",")
        ]
        return self._per_layer(key, text, values, n)

    def bool_list(self, key: str, n: int) -> list[bool]:
        text = self.raw(key)
        values = [
            self._one(
                key,
                t,
                _bool,
                "comma-separated True/true/1/False/false/0",
                lambda v: True,
                text,
            )
            for t in text.split(",")
        ]
        return self._per_layer(key, text, values, n)

    def _per_layer(self, key: str, text: str, values: list, n: int) -> list:
        if len(values) != n:
            raise self._error(
                f"needs one entry per layer ({n} layers)",
                key,
                text,
                f"{n} comma-separated values",
            )
        return values

    def reject_unknown(self, prefix: str, known: list[str]) -> None:
        """An unknown key with our prefix is a typo: name it, list what is allowed."""
        for key in self.options:
            if key.startswith(prefix) and key not in known:
                raise self._error(
                    "unknown option",
                    key,
                    str(self.options[key]),
                    ", ".join(sorted(known)),
                )

    def reject_all_unknown(self, known: list[str]) -> None:
        """For classes without a prefix: everything but host keys must be known."""
        for key in self.options:
            if key in known or key in HOST_KEYS or key.startswith(HOST_PREFIXES):
                continue
            if key.startswith(("lstm_", "gru_", "dnn_", "snn_")):
                raise self._error(
                    "option of another class",
                    key,
                    str(self.options[key]),
                    ", ".join(sorted(known)),
                )


def _int(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(text)
    return int(text)


def _bool(text: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(text)


def first_epoch_rate(text: str) -> str:
    """PyTorch-Kaldi rewrites ``*_drop`` values into per-epoch schedules (``0.1*24``).

    The chunk cfg a class sees holds the current epoch's rate, but accept the schedule.
    """
    return ",".join(part.split("|")[0].split("*")[0] for part in text.split(","))


@dataclass(frozen=True)
class SNNOptions:
    """Options of SNN_traditional / SNN_v1 / SNN_v2 (keys prefixed ``snn_``)."""

    layers: list[int]
    dropout: list[float]
    use_batchnorm: list[bool]
    n_bits: int | None
    threshold_k: int
    ema_momentum: float
    alpha: float
    beta: float
    learn_decay: bool
    input_encoding: str
    quantizer: str
    input_bits: int


SNN_KEYS = [
    "snn_lay",
    "snn_drop",
    "snn_use_batchnorm",
    "snn_n_bits",
    "snn_threshold_k",
    "snn_ema_momentum",
    "snn_alpha",
    "snn_beta",
    "snn_learn_decay",
    "snn_input_encoding",
    "snn_quantizer",
    "snn_input_bits",
]


def parse_snn_options(
    options: Mapping[str, str], owner: str, kind: str = "traditional"
) -> SNNOptions:
    """Typed ``snn_*`` options of one section; ``kind`` is the class's neuron kind.

    ``snn_beta`` (synaptic decay) exists only for the traditional neuron. With
    ``snn_quantizer=authors`` the signed quantiser needs ``snn_n_bits`` >= 2 and
    ``snn_threshold_k`` below its 2^(N-1) levels per sign. ``snn_input_bits`` (2..16,
    default 8) sets the signed sigma-delta input encoder's resolution.
    """
    r = OptionReader(options, owner)
    known = [k for k in SNN_KEYS if kind == "traditional" or k != "snn_beta"]
    if kind != "traditional" and "snn_beta" in options:
        raise r._error(
            "synaptic decay exists only for SNN_traditional",
            "snn_beta",
            str(options["snn_beta"]),
            ", ".join(sorted(known)),
        )
    r.reject_unknown("snn_", known)
    layers = r.int_list("snn_lay", 1, 100000)
    n = len(layers)
    if "snn_drop" in options:
        drop_text = first_epoch_rate(r.raw("snn_drop"))
        dropout = OptionReader({"snn_drop": drop_text}, owner).float_list(
            "snn_drop", 0.0, 0.99, n
        )
    else:
        dropout = [0.0] * n
    use_bn = (
        r.bool_list("snn_use_batchnorm", n)
        if "snn_use_batchnorm" in options
        else [True] * n
    )
    bits = r.int("snn_n_bits", 0, 16, default="6")
    n_bits = None if bits == 0 else bits
    quantizer = r.choice("snn_quantizer", ["paper", "authors"], "paper")
    k = r.int("snn_threshold_k", 0, 65535, default="4")
    if quantizer == "authors":
        if n_bits is None or n_bits < 2:
            raise r._error(
                "the signed quantiser needs at least 2 bits",
                "snn_n_bits",
                str(bits),
                "2..16 with snn_quantizer=authors",
            )
        if k >= 2 ** (n_bits - 1):
            raise r._error(
                "threshold above the range",
                "snn_threshold_k",
                str(k),
                f"an integer in [0, {2 ** (n_bits - 1) - 1}] levels for "
                f"{n_bits} signed bits",
            )
    elif n_bits is not None and k >= 2**n_bits:
        raise r._error(
            "threshold above the range",
            "snn_threshold_k",
            str(k),
            f"an integer in [0, {2**n_bits - 1}] for {n_bits} bits",
        )
    return SNNOptions(
        layers=layers,
        dropout=dropout,
        use_batchnorm=use_bn,
        n_bits=n_bits,
        threshold_k=k,
        ema_momentum=r.float("snn_ema_momentum", 0.0, 1.0, default="0.1"),
        alpha=r.float("snn_alpha", 0.0, 1.0, default="1.0"),
        beta=r.float("snn_beta", 0.0, 1.0, default="0.9")
        if kind == "traditional"
        else 0.9,
        learn_decay=r.bool("snn_learn_decay", default="False"),
        input_encoding=r.choice("snn_input_encoding", ["none", "sigma_delta"], "none"),
        quantizer=quantizer,
        input_bits=r.int("snn_input_bits", 2, 16, default="8"),
    )


@dataclass(frozen=True)
class AuthorsOptions:
    """Options of the authors' classes (their names, no prefix)."""

    hidden_size: int
    num_layers: int
    dropout: float
    use_bn: bool
    do_edat: bool
    n_bits: int
    threshold: float
    momentum: float
    output_size: int
    learn_tau: bool


AUTHORS_KEYS = [
    "hidden_size",
    "num_layers",
    "dropout",
    "use_bn",
    "do_edat",
    "n_bits",
    "threshold",
    "momentum",
    "output_size",
    "learn_tau",
]


def parse_authors_options(
    options: Mapping[str, str], owner: str, kind: str = "v2"
) -> AuthorsOptions:
    """The authors' keys with their defaults.

    ``do_edat`` is optional (default True): the authors' traditional model has no
    such key and always quantises. ``n_bits`` is 1..32 (32: practically full
    precision; 1: every spike is 0, as in their code, with a warning) and
    ``threshold`` counts levels below 2^(N-1) (0 at 1 bit); both only matter when the
    model quantises.
    """
    r = OptionReader(options, owner)
    r.reject_all_unknown(AUTHORS_KEYS)
    do_edat = r.bool("do_edat", default="True")
    n_bits = r.int("n_bits", 1, 32, default="6")
    threshold = r.float("threshold", 0.0, 65535.0, default="3")
    quantises = do_edat or kind == "traditional"
    top = max(0, 2 ** (n_bits - 1) - 1)
    if quantises and threshold >= max(1, 2 ** (n_bits - 1)):
        raise r._error(
            "threshold above the range",
            "threshold",
            str(threshold),
            f"[0, {top}] levels for {n_bits} bits",
        )
    return AuthorsOptions(
        hidden_size=r.int("hidden_size", 1, 100000),
        num_layers=r.int("num_layers", 1, 100),
        dropout=r.float("dropout", 0.0, 0.99, default="0.0"),
        use_bn=r.bool("use_bn", default="True"),
        do_edat=do_edat,
        n_bits=n_bits,
        threshold=threshold,
        momentum=r.float("momentum", 0.0, 1.0, default="0.1"),
        output_size=r.int("output_size", 1, 10000000),
        learn_tau=r.bool("learn_tau", default="False"),
    )


def parse_inp_dim(inp_dim, owner: str) -> int:
    try:
        value = int(inp_dim)
    except (TypeError, ValueError):
        value = -1
    if value < 1:
        raise ConfigError(
            f"{owner}: inp_dim must be a positive integer",
            key="inp_dim",
            value=str(inp_dim),
            allowed=">= 1",
        )
    return value


def as_dict(options: Mapping[str, str]) -> dict[str, str]:
    return {k: str(options[k]) for k in options}


def check_input(x, inp_dim: int, owner: str):
    """Return ``x`` as ``[T, B, F]`` (a 2-D ``[T*B, F]`` input becomes one frame per
    row) after checking ``F == inp_dim``; otherwise raise a DataError naming the class.
    """
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[-1] != inp_dim:
        raise DataError(
            f"{owner}: input of shape {list(x.shape)} does not match "
            f"inp_dim={inp_dim}; "
            f"allowed: [T, B, {inp_dim}] or [T*B, {inp_dim}] (check the features' "
            "dimension and the cfg's context window)"
        )
    return x
