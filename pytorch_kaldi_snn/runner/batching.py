"""Sentence batches the way PyTorch-Kaldi builds them for sequence models.

1. Sentences longer than ``max_seq_length`` L are cut into pieces of L frames; a tail of
   at most 1.25 L frames is kept whole (upstream's rule: 625 frames with L = 500 give
   500 + 125, 600 frames stay one piece).
2. Pieces are sorted by length (ties by name) so a batch holds similar lengths.
3. Consecutive pieces form batches of ``batch_size``; each batch is time-major
   ``[T, B, F]``, zero padded at the end, with a ``[T, B]`` mask of real frames.

Upstream also prepends a random number of zero frames to each training sentence; we do
not (the mask keeps padding out of the loss and error instead).

>>> split_sentence(626, 500)
[(0, 500), (500, 626)]
>>> split_sentence(625, 500)
[(0, 625)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Piece:
    """Frames ``start:end`` of utterance ``utt``."""

    utt: str
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def split_sentence(length: int, max_len: int) -> list[tuple[int, int]]:
    """Upstream's split of a long sentence into ``(start, end)`` pieces
    (``max_len`` <= 0: no split)."""
    if max_len <= 0 or length <= max_len:
        return [(0, length)]
    pieces = []
    start = 0
    while length - start > 1.25 * max_len:
        pieces.append((start, start + max_len))
        start += max_len
    pieces.append((start, length))
    return pieces


def make_pieces(lengths: Mapping[str, int], max_len: int) -> list[Piece]:
    """All pieces of all utterances, sorted by (length, utt, start)."""
    pieces = [Piece(utt, s, e) for utt, n in lengths.items()
              for s, e in split_sentence(int(n), max_len)]
    pieces.sort(key=lambda p: (p.length, p.utt, p.start))
    return pieces


def make_batches(pieces: Sequence[Piece], batch_size: int) -> list[list[Piece]]:
    """Consecutive groups of ``batch_size`` pieces (the last may be smaller)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    return [list(pieces[i:i + batch_size]) for i in range(0, len(pieces), batch_size)]


@dataclass
class Batch:
    """A padded batch: ``features[name]`` is ``[T, B, F]``, ``labels[name]`` ``[T, B]``
    (int64, -1 on padding), ``mask`` ``[T, B]`` bool (True on real frames)."""

    pieces: list[Piece]
    features: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]
    mask: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.pieces,
            {k: v.to(device) for k, v in self.features.items()},
            {k: v.to(device) for k, v in self.labels.items()},
            self.mask.to(device),
        )

    @property
    def frames(self) -> int:
        return int(self.mask.sum())


def collate(pieces: Sequence[Piece], features: Mapping[str, Mapping[str, np.ndarray]],
            labels: Mapping[str, Mapping[str, np.ndarray]]) -> Batch:
    """Stack pieces into zero-padded time-major tensors (see :class:`Batch`)."""
    t_max = max(p.length for p in pieces)
    b = len(pieces)
    feats = {}
    for name, table in features.items():
        dim = next(iter(table.values())).shape[1]
        x = np.zeros((t_max, b, dim), dtype=np.float32)
        for j, p in enumerate(pieces):
            x[: p.length, j] = table[p.utt][p.start:p.end]
        feats[name] = torch.from_numpy(x)
    labs = {}
    for name, table in labels.items():
        y = np.full((t_max, b), -1, dtype=np.int64)
        for j, p in enumerate(pieces):
            y[: p.length, j] = table[p.utt][p.start:p.end]
        labs[name] = torch.from_numpy(y)
    mask = torch.zeros(t_max, b, dtype=torch.bool)
    for j, p in enumerate(pieces):
        mask[: p.length, j] = True
    return Batch(list(pieces), feats, labs, mask)
