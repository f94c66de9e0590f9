"""Forward pass: pseudo log-likelihoods for the decoder, one ``[T, C]`` matrix per
utterance.

For the output ``o`` named in ``[forward] forward_out`` (log-posteriors of the
network)::

    ll[t, c] = o[t, c] - log_prior[c]      if normalize_posteriors
    ll[t, c] = o[t, c]                     otherwise

written as a Kaldi ark (``..._to_decode.ark``) the decoders read. Utterances are batched
by length and never split, so every row of the ark is a real frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import kaldiio
import numpy as np
import torch
from tqdm import tqdm

from pytorch_kaldi_snn.fileio import atomic_path
from pytorch_kaldi_snn.runner.batching import Batch, Piece, collate, make_batches

logger = logging.getLogger(__name__)

OutputsFn = Callable[[Batch], Mapping[str, torch.Tensor]]


def utterance_rows(out: torch.Tensor, batch: Batch) -> dict[str, np.ndarray]:
    """Split a ``[T, B, C]`` (or time-major ``[T*B, C]``) output into per-utterance
    ``[T_utt, C]`` float32 arrays, dropping padding."""
    t_max, b = batch.mask.shape
    out = out.reshape(t_max, b, -1).detach().float().cpu().numpy()
    rows = {}
    for j, piece in enumerate(batch.pieces):
        rows[piece.utt] = np.ascontiguousarray(out[: piece.length, j])
    return rows


def forward_dataset(outputs_fn: OutputsFn, out_names: Sequence[str],
                    features: Mapping[str, Mapping[str, np.ndarray]],
                    batch_size: int, device: torch.device, desc: str = "forward",
                    ) -> dict[str, dict[str, np.ndarray]]:
    """Run the network in eval mode over every utterance; returns
    ``{out_name: {utt: [T, C]}}``."""
    first = next(iter(features.values()))
    pieces = sorted((Piece(u, 0, x.shape[0]) for u, x in first.items()),
                    key=lambda p: (p.length, p.utt))
    results: dict[str, dict[str, np.ndarray]] = {n: {} for n in out_names}
    batches = make_batches(pieces, batch_size)
    with torch.no_grad():
        for group in tqdm(batches, desc=desc, disable=None, leave=False, unit="batch"):
            batch = collate(group, features, {}).to(device)
            outs = outputs_fn(batch)
            for name in out_names:
                results[name].update(utterance_rows(outs[name], batch))
    return results


def write_ark(path: str, mats: Mapping[str, np.ndarray],
              log_prior: np.ndarray | None = None) -> None:
    """Write ``{utt: [T, C]}`` (minus ``log_prior`` when given) to a binary ark,
    atomically (temp file in the same folder, then ``os.replace``)."""
    with atomic_path(path) as tmp, kaldiio.WriteHelper(f"ark:{tmp}") as writer:
        for utt in sorted(mats):
            m = mats[utt]
            if m.ndim != 2:
                raise ValueError(f"{utt}: posterior matrix must be 2-D, got {m.shape}")
            if log_prior is not None:
                m = m - log_prior[None, :].astype(np.float32)
            writer(utt, m.astype(np.float32))
