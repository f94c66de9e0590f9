r"""A monophone HMM-GMM acoustic model and Viterbi alignment, in numpy.

Each phone has three emitting states (Kaldi's topology, one pdf per state), so
``pdf = 3 * phone_index + state``; each pdf is a diagonal Gaussian mixture. Within an
utterance the states form a left-to-right chain built from its phone transcript. To keep
very short phones alignable (fast synthetic speech has phones of 1-2 frames), a path may
skip one state (log-penalty ``skip``), so a phone needs only one frame.

Training follows Kaldi's ``train_mono.sh``: equal alignment (flat start), then
re-estimation and Viterbi realignment, with Gaussians split deterministically (largest
variance dimension) up to ``max_gauss`` per state.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from pytorch_kaldi_snn.errors import DataError

NUM_STATES = 3
LOG_SKIP = np.log(0.05)
_LOG2PI = np.log(2 * np.pi)


@dataclass
class MonophoneModel:
    """Phones (``phones[i]`` has Kaldi phone id ``phone_ids[i]``) and their GMM
    states."""

    phones: List[str]
    phone_ids: List[int]
    means: np.ndarray  # [num_pdfs, M, D]
    variances: np.ndarray  # [num_pdfs, M, D]
    log_weights: np.ndarray  # [num_pdfs, M]
    log_stay: np.ndarray  # [num_pdfs] self-loop log prob
    log_move: np.ndarray  # [num_pdfs] forward log prob
    info: dict = field(default_factory=dict)

    @property
    def num_pdfs(self) -> int:
        return len(self.means)

    def pdf_to_phone_id(self) -> np.ndarray:
        return np.repeat(np.asarray(self.phone_ids), NUM_STATES)

    def log_likelihoods(self, x: np.ndarray,
                        pdfs: "np.ndarray | None" = None) -> np.ndarray:
        """``[T, num_pdfs]`` log p(x_t | pdf) (only the columns ``pdfs`` are filled,
        the others are -inf, when ``pdfs`` is given)."""
        sel = np.arange(self.num_pdfs) if pdfs is None else np.unique(pdfs)
        means = self.means[sel].astype(np.float32)
        var = self.variances[sel].astype(np.float32)
        x = x.astype(np.float32)
        d = x.shape[1]
        inv = 1.0 / var  # [P, M, D]
        const = -0.5 * (np.log(var).sum(-1) + d * _LOG2PI) + self.log_weights[sel]
        # The quadratic form expanded into matmuls instead of a [T, P, M, D] tensor.
        x2 = (x**2) @ inv.reshape(-1, d).T
        xm = x @ (means * inv).reshape(-1, d).T
        mm = ((means**2) * inv).sum(-1).reshape(-1)
        ll = (const.reshape(-1) - 0.5 * (x2 - 2 * xm + mm)).reshape(
            len(x), len(sel), -1)
        if ll.shape[-1] == 1:
            out_sel = ll[..., 0]
        else:
            top = ll.max(-1, keepdims=True)
            out_sel = top[..., 0] + np.log(np.exp(ll - top).sum(-1))
        if pdfs is None:
            return out_sel.astype(np.float32)
        out = np.full((len(x), self.num_pdfs), -np.inf, dtype=np.float32)
        out[:, sel] = out_sel
        return out

    def save(self, path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(self, f)
        tmp.replace(path)

    @staticmethod
    def load(path) -> "MonophoneModel":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: acoustic model not found")
        with open(path, "rb") as f:
            model = pickle.load(f)
        if not isinstance(model, MonophoneModel):
            raise DataError(f"{path}: not a pytorch-kaldi-snn monophone model")
        return model


def chain_pdfs(model_phone_index: Dict[str, int], phones: List[str]) -> np.ndarray:
    idx = [model_phone_index[p] for p in phones]
    return np.asarray([NUM_STATES * i + s for i in idx for s in range(NUM_STATES)])


def viterbi_chain(ll: np.ndarray, pdfs: np.ndarray, log_stay: np.ndarray,
                  log_move: np.ndarray) -> Tuple[np.ndarray, float]:
    """Best path through a left-to-right chain of states (pdf ids ``pdfs``).

    Returns the pdf of each frame and the path log-likelihood; a path starts in state 0
    or 1 and ends in one of the last two states.
    """
    t_len, s_len = len(ll), len(pdfs)
    emit = ll[:, pdfs]  # [T, S]
    stay, move = log_stay[pdfs], log_move[pdfs]
    neg = -1e30
    delta = np.full(s_len, neg)
    delta[0] = emit[0, 0]
    if s_len > 1:
        delta[1] = emit[0, 1] + LOG_SKIP
    back = np.zeros((t_len, s_len), dtype=np.int8)  # 0 stay, 1 step, 2 skip
    for t in range(1, t_len):
        c_stay = delta + stay
        c_step = np.full(s_len, neg)
        c_step[1:] = delta[:-1] + move[:-1]
        c_skip = np.full(s_len, neg)
        c_skip[2:] = delta[:-2] + move[:-2] + LOG_SKIP
        cands = np.stack([c_stay, c_step, c_skip])
        choice = cands.argmax(0)
        back[t] = choice
        delta = cands[choice, np.arange(s_len)] + emit[t]
    ends = [s_len - 1] + ([s_len - 2] if s_len > 1 else [])
    s = max(ends, key=lambda e: delta[e])
    score = float(delta[s])
    if score < -1e29:
        raise ValueError("no path")
    path = np.empty(t_len, dtype=np.int64)
    for t in range(t_len - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    return pdfs[path], score


def _estimate(feats: Dict[str, np.ndarray], ali: Dict[str, np.ndarray], num_pdfs: int,
              prev: "MonophoneModel | None", n_mix: int, floor: np.ndarray):
    """ML re-estimation given hard alignments; mixtures via Viterbi assignment."""
    dim = next(iter(feats.values())).shape[1]
    by_pdf: List[List[np.ndarray]] = [[] for _ in range(num_pdfs)]
    for utt, a in ali.items():
        x = feats[utt]
        order = np.argsort(a, kind="stable")
        bounds = np.searchsorted(a[order], np.arange(num_pdfs + 1))
        for p in np.unique(a):
            by_pdf[p].append(x[order[bounds[p]:bounds[p + 1]]])
    means = np.zeros((num_pdfs, n_mix, dim))
    variances = np.ones((num_pdfs, n_mix, dim))
    log_w = np.full((num_pdfs, n_mix), -np.log(n_mix))
    for p in range(num_pdfs):
        data = np.concatenate(by_pdf[p]) if by_pdf[p] else np.zeros((0, dim))
        if len(data) < 2:
            if prev is not None:
                means[p], variances[p] = _resize(prev, p, n_mix)
            log_w[p] = -np.log(n_mix)
            continue
        m, v, w = _fit_mixture(data, n_mix, floor)
        means[p], variances[p], log_w[p] = m, v, np.log(w)
    return means, variances, log_w


def _resize(prev: MonophoneModel, p: int, n_mix: int):
    m, v = prev.means[p], prev.variances[p]
    reps = int(np.ceil(n_mix / len(m)))
    return np.tile(m, (reps, 1))[:n_mix], np.tile(v, (reps, 1))[:n_mix]


def _fit_mixture(data: np.ndarray, n_mix: int, floor: np.ndarray):
    """Deterministic binary splitting + a few hard-EM (k-means-like) rounds."""
    comps = [(data.mean(0), np.maximum(data.var(0), floor))]
    while len(comps) < n_mix and len(data) >= 4 * (len(comps) + 1):
        m, v = max(comps, key=lambda c: c[1].sum())
        idx = next(i for i, c in enumerate(comps) if c[0] is m)
        d = np.sqrt(v) * 0.2
        comps[idx:idx + 1] = [(m + d, v), (m - d, v)]
        for _ in range(3):
            mu = np.stack([c[0] for c in comps])
            var = np.stack([c[1] for c in comps])
            ll = -0.5 * (((data[:, None, :] - mu) ** 2) / var + np.log(var)).sum(-1)
            lab = ll.argmax(1)
            new = []
            for k in range(len(comps)):
                sel = data[lab == k]
                new.append(comps[k] if len(sel) < 2 else
                           (sel.mean(0), np.maximum(sel.var(0), floor)))
            comps = new
    mu = np.stack([c[0] for c in comps])
    var = np.stack([c[1] for c in comps])
    ll = -0.5 * (((data[:, None, :] - mu) ** 2) / var + np.log(var)).sum(-1)
    counts = np.bincount(ll.argmax(1), minlength=len(comps)) + 1.0
    w = counts / counts.sum()
    while len(mu) < n_mix:  # pad (tiny data): duplicate with negligible weight
        mu, var = np.vstack([mu, mu[:1]]), np.vstack([var, var[:1]])
        w = np.append(w * (1 - 1e-4), 1e-4)
    return mu, var, w / w.sum()


def equal_alignment(pdfs: np.ndarray, n_frames: int) -> np.ndarray:
    """Kaldi's align-equal: frames spread evenly over the chain's states."""
    if n_frames < len(pdfs) // NUM_STATES:
        raise ValueError("too few frames")
    edges = np.linspace(0, len(pdfs), n_frames, endpoint=False).astype(int)
    return pdfs[np.minimum(edges, len(pdfs) - 1)]
