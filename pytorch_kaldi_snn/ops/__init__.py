"""Operation and sparsity counting for event-driven hardware (forward hooks only).

``count_ops(model)`` attaches the counter; ``summarize(counter.records(), label)``
builds the per-layer / Table-1 report. The convention is in :mod:`.costs` and
docs/ops-counting.md.
"""

from pytorch_kaldi_snn.ops.counter import LayerCount, OpCounter, count_ops
from pytorch_kaldi_snn.ops.report import summarize, table1_markdown

__all__ = ["LayerCount", "OpCounter", "count_ops", "summarize", "table1_markdown"]
