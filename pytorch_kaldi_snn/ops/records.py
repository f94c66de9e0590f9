"""Per-layer operation and event counts (plain data, JSON round trip)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pytorch_kaldi_snn.ops.costs import Cost


@dataclass
class LayerCount:
    """Accumulated counts of one layer (sums over all frames seen).

    ``in_slots``/``out_slots`` are the numbers of input/output values seen, so
    ``1 - out_events / out_slots`` is the fraction of zero outputs. ``observed_in`` /
    ``observed_out`` are False when a hook cannot see that tensor (the inner layers of
    a multi-layer ``torch.nn.LSTM``).
    """

    name: str
    kind: str
    role: str
    input_size: int
    hidden_size: int
    directions: int = 1
    frames: int = 0
    calls: int = 0
    in_events: int = 0
    in_slots: int = 0
    out_events: int = 0
    out_slots: int = 0
    rec_events: int = 0
    mults_input: int = 0
    mults_recurrent: int = 0
    mults_elementwise: int = 0
    adds_input: int = 0
    adds_recurrent: int = 0
    adds_elementwise: int = 0
    nonlin: int = 0
    observed_in: bool = True
    observed_out: bool = True

    @property
    def mults(self) -> int:
        return self.mults_input + self.mults_recurrent + self.mults_elementwise

    @property
    def adds(self) -> int:
        return self.adds_input + self.adds_recurrent + self.adds_elementwise

    def zero_output_fraction(self) -> float | None:
        """Fraction of output values that are exactly zero (None if unseen)."""
        if not self.observed_out or self.out_slots == 0:
            return None
        return 1.0 - self.out_events / self.out_slots

    def add_cost(self, part: str, cost: Cost) -> None:
        """Accumulate ``cost`` into the ``input``/``recurrent``/``elementwise`` part."""
        setattr(self, f"mults_{part}", getattr(self, f"mults_{part}") + cost.mults)
        setattr(self, f"adds_{part}", getattr(self, f"adds_{part}") + cost.adds)
        self.nonlin += cost.nonlin

    def merge(self, other: LayerCount) -> None:
        """Add the counts of ``other`` (same layer seen in another run or chunk)."""
        for f in fields(self):
            value = getattr(other, f.name)
            if f.type in ("int", int) and f.name not in (
                "input_size", "hidden_size", "directions"
            ):
                setattr(self, f.name, getattr(self, f.name) + value)
        self.observed_in = self.observed_in and other.observed_in
        self.observed_out = self.observed_out and other.observed_out

    def to_dict(self) -> dict[str, Any]:
        """Raw sums (for merging) plus per-frame values and the zero-output percent."""
        d = asdict(self)
        d["mults"] = self.mults
        d["adds"] = self.adds
        n = max(self.frames, 1)
        d["per_frame"] = {
            "mults": self.mults / n,
            "adds": self.adds / n,
            "nonlin": self.nonlin / n,
            "in_events": self.in_events / n if self.observed_in else None,
            "out_events": self.out_events / n if self.observed_out else None,
            "rec_events": self.rec_events / n,
        }
        zero = self.zero_output_fraction()
        d["zero_outputs_pct"] = None if zero is None else 100.0 * zero
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerCount:
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
