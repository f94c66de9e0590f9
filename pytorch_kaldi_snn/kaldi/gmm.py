r"""Monophone GMM-HMM with kaldi-hmm-gmm: Kaldi's own TransitionModel, tree and
AmDiagGmm.

The model of ``train_mono.sh``: one context-independent tree, HMM topology from the lang
folder, one diagonal GMM per pdf. Training steps (each a pure function of its inputs):

- :func:`init_mono` (``gmm-init-mono``): every pdf starts as the global mean/variance.
- :func:`accumulate` + :func:`update` (``gmm-acc-stats-ali`` + ``gmm-est``): maximum
  likelihood re-estimation from hard alignments,
  :math:`\mu_{jm} = \sum_t \gamma_{jm}(t) x_t / \sum_t \gamma_{jm}(t)`, transition
  probabilities from transition counts.
- :func:`mix_up`: Kaldi's ``split_by_count`` draws random perturbations, which made the
  number of Gaussians differ between processes (docs/kaldi-stack.md). Ours is
  deterministic: pdf ``j`` gets a target proportional to :math:`occ_j^{0.2}` (at most
  ``occ_j / min_count``), and the heaviest component is split into two halves with means
  :math:`\mu \pm 0.2 \sigma`.
- :func:`align` (``gmm-align-compiled``): Viterbi through the utterance's training
  graph, acoustic scale 0.1, self-loop scale 0.1, beam 10 then retry beam 40.

The model is saved as a pickle (``final.mdl.pkl``): the bindings cannot write Kaldi's
binary ``final.mdl``.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi.io import atomic_path

logger = logging.getLogger(__name__)
MODEL_FILE = "final.mdl.pkl"
FORMAT = "pytorch-kaldi-snn/monophone-gmm/1"


def _khg():
    from pytorch_kaldi_snn.kaldi._backend import khg

    return khg


@dataclass
class MonoModel:
    """TransitionModel + tree + AmDiagGmm and the phone table they were built with."""

    tm: object
    tree: object
    am: object
    phones: dict[str, int]
    topo: str

    @property
    def num_pdfs(self) -> int:
        """Number of pdfs (the network's output size)."""
        return int(self.tm.num_pdfs)

    def pdf_of(self) -> np.ndarray:
        """``pdf_of[tid]`` for tid in 0..num_tids (index 0 unused)."""
        return np.asarray(self.tm.transition_id_to_pdf_array(), dtype=np.int64)

    def phone_of(self) -> np.ndarray:
        """``phone_of[tid]``: Kaldi phone id of every transition id (index 0 = 0)."""
        n = self.tm.num_transition_ids
        return np.asarray([0] + [self.tm.transition_id_to_phone(t)
                                 for t in range(1, n + 1)], dtype=np.int64)

    def phone_start(self) -> np.ndarray:
        """``start[tid]``: the tid begins a phone (first frame of its HMM state 0).

        Graphs are built with reordered self-loops (Kaldi's default), so each visit of
        a state starts with its one non-self-loop transition id.
        """
        pdf, phone = self.pdf_of(), self.phone_of()
        first = {}
        for t in range(1, len(pdf)):
            first[phone[t]] = min(first.get(phone[t], pdf[t]), pdf[t])
        out = np.zeros(len(pdf), dtype=bool)
        for t in range(1, len(pdf)):
            out[t] = pdf[t] == first[phone[t]] and not self.tm.is_self_loop(t)
        return out

    def save(self, path) -> None:
        """Atomically pickle the model."""
        blob = {"format": FORMAT, "tm": self.tm, "tree": self.tree, "am": self.am,
                "phones": self.phones, "topo": self.topo}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            pickle.dump(blob, f)

    @staticmethod
    def load(path) -> MonoModel:
        """Read a model written by :meth:`save`; DataError naming the file if not."""
        _khg()
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: acoustic model not found (run `pytorch-kaldi-snn "
                            "align` first)")
        try:
            with open(path, "rb") as f:
                blob = pickle.load(f)
        except Exception as exc:
            raise DataError(f"{path}: not a readable model file: {exc}") from exc
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise DataError(f"{path}: not a pytorch-kaldi-snn monophone model")
        return MonoModel(blob["tm"], blob["tree"], blob["am"], blob["phones"],
                         blob["topo"])


def init_mono(topo_text: str, phones: dict[str, int], feats: Sequence[np.ndarray]
              ) -> MonoModel:
    """Flat start: one Gaussian per pdf at the global mean and variance."""
    khg = _khg()
    topo = khg.HmmTopology()
    topo.read(topo_text)
    tree = khg.monophone_context_dependency(
        phones=topo.phones, phone2num_pdf_classes=topo.get_phone_to_num_pdf_classes())
    tm = khg.TransitionModel(ctx_dep=tree, hmm_topo=topo)
    allx = np.concatenate(list(feats)).astype(np.float64)
    mean, var = allx.mean(0), np.maximum(allx.var(0), 1e-6)
    am = khg.AmDiagGmm()
    for _ in range(tree.num_pdfs):
        g = khg.DiagGmm(nmix=1, dim=allx.shape[1])
        g.set_weights(np.ones(1, dtype=np.float32))
        g.set_invvars_and_means((1.0 / var)[None].astype(np.float32),
                                mean[None].astype(np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return MonoModel(tm, tree, am, dict(phones), topo_text)


def accumulate(model: MonoModel, feats: Mapping[str, np.ndarray],
               ali: Mapping[str, Sequence[int]]):
    """Sufficient statistics of the GMMs and transitions; returns (accs, tstats, ll)."""
    khg = _khg()
    acc = khg.AccumAmDiagGmm()
    acc.init(model=model.am, flags=khg.GmmUpdateFlags.kGmmAll)
    tstats = model.tm.init_stats()
    pdf_of = model.pdf_of()
    ll, frames = 0.0, 0
    for utt in sorted(ali):
        x = np.ascontiguousarray(feats[utt], dtype=np.float32)
        for t, tid in enumerate(ali[utt]):
            tstats = model.tm.accumulate(prob=1.0, trans_id=int(tid), stats=tstats)
            ll += acc.accumulate_for_gmm(model=model.am, data=x[t],
                                         gmm_index=int(pdf_of[tid]), weight=1.0)
        frames += len(ali[utt])
    return acc, tstats, ll / max(frames, 1)


def update(model: MonoModel, acc, tstats) -> np.ndarray:
    """ML update of GMMs and transitions in place; returns the per-pdf occupancies."""
    khg = _khg()
    model.tm.mle_update(tstats, khg.MleTransitionUpdateConfig())
    khg.mle_am_diag_gmm_update(config=khg.MleDiagGmmOptions(), amdiag_gmm_acc=acc,
                               flags=khg.str_to_gmm_flags("mvwt"), am_gmm=model.am)
    return np.asarray([float(np.sum(acc.get_acc(i).occupancy))
                       for i in range(acc.num_accs)])


def mix_up(model: MonoModel, occs: np.ndarray, target: int, power: float = 0.2,
           min_count: float = 20.0) -> None:
    """Deterministically split Gaussians until about ``target`` in total (see top)."""
    am = model.am
    if target <= am.num_gauss:
        return
    share = np.power(np.maximum(occs, 0.0), power)
    want = np.maximum(1, np.floor(target * share / max(share.sum(), 1e-9) + 0.5))
    want = np.minimum(want, np.maximum(1, np.floor(occs / min_count)))
    for p in range(am.num_pdfs):
        g = am.get_pdf(p)
        w = np.asarray(g.weights, dtype=np.float64).copy()
        mu = np.asarray(g.means, dtype=np.float64).copy()
        var = np.asarray(g.vars, dtype=np.float64).copy()
        while len(w) < want[p]:
            k = int(np.argmax(w))
            d = 0.2 * np.sqrt(var[k])
            mu = np.vstack([mu, mu[k] - d])
            mu[k] = mu[k] + d
            var = np.vstack([var, var[k]])
            w[k] /= 2
            w = np.append(w, w[k])
        if len(w) != g.num_gauss:
            g.resize(len(w), mu.shape[1])
            g.set_weights(w.astype(np.float32))
            g.set_invvars_and_means((1.0 / var).astype(np.float32),
                                    mu.astype(np.float32))
            g.compute_gconsts()


def align(model: MonoModel, graph, x: np.ndarray, utt: str, beam: float = 10.0,
          retry_beam: float = 40.0) -> list[int] | None:
    """Viterbi alignment (transition ids) of ``x`` through a training graph, or None."""
    khg = _khg()
    fst = graph.copy()
    khg.add_transition_probs(trans_model=model.tm, transition_scale=1.0,
                             self_loop_scale=0.1, fst=fst)
    cfg = khg.AlignConfig()
    cfg.beam, cfg.retry_beam, cfg.careful = beam, retry_beam, False
    dec = khg.DecodableAmDiagGmmScaled(
        am=model.am, tm=model.tm,
        feats=np.ascontiguousarray(x, dtype=np.float32), scale=0.1)
    out = khg.align_utterance_wrapper(config=cfg, utt=utt, acoustic_scale=0.1, fst=fst,
                                      decodable=dec, num_done=0, num_error=0,
                                      num_retried=0, tot_like=0.0, frame_count=0)
    tids = list(out[5])
    return tids if len(tids) == len(x) else None


def equal_align(graph, n_frames: int, seed: int = 0) -> list[int] | None:
    """Kaldi's ``align-equal-compiled``: a random path of ``n_frames`` (seeded)."""
    from pytorch_kaldi_snn.kaldi._backend import kaldifst

    ok, fst = kaldifst.equal_align(ifst=graph, length=n_frames, rand_seed=seed,
                                   num_retries=10)
    if not ok:
        return None
    ok, tids, _, _ = kaldifst.get_linear_symbol_sequence(fst)
    return list(tids) if ok and len(tids) == n_frames else None


def loglikes(model: MonoModel, x: np.ndarray) -> np.ndarray:
    """``[T, num_pdfs]`` GMM log-likelihoods log p(x_t | pdf)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty((len(x), model.num_pdfs), dtype=np.float32)
    for p in range(model.num_pdfs):
        comp = np.asarray(model.am.get_pdf(p).log_likelihoods_matrix(x), np.float64)
        top = comp.max(1, keepdims=True)
        out[:, p] = (top[:, 0] + np.log(np.exp(comp - top).sum(1)))
    return out
