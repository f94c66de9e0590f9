r"""HCLG decoding graphs with kaldifst, kaldilm and kaldi-hmm-gmm (Kaldi's mkgraph.sh).

.. math::  HCLG = \mathrm{asl}(\min(\mathrm{rds}(\det(H \circ \min(\det(C \circ
           \min(\det(L \circ G))))))))

L is ``L_disambig.fst`` (disambiguation symbols on its input), G the n-gram LM from
kaldilm's ``arpa2fst`` with ``#0`` on back-off arcs, C the (monophone) context
transducer from ``compose_context``, H the HMM transducer of the transition model
(``get_h_transducer``, transition scale 1.0), ``rds`` removes the disambiguation
transition ids, ``asl`` adds self loops (``self_loop_scale`` 0.1, as Kaldi). Output
labels are word ids of ``words.txt``; input labels are transition ids.

Graph folders (``make_phone_graph`` / ``make_word_graph``) hold ``HCLG.fst`` (OpenFst,
transition ids in, word ids out), ``words.txt``, ``phones.txt``, ``phones/`` (the lang
folder's phone sets), ``G.arpa``, ``G.fst``,
``final.mdl.pkl`` (a copy of the model the graph was built for), ``num_pdfs`` and
``graph_kind`` (``phone``: the words are the phones, L maps each phone to itself and G
is a phone bigram of the training alignments, as Kaldi's TIMIT recipe; ``word``: the
lang folder's ``L_disambig.fst`` and an n-gram of a training ``text``).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from pytorch_kaldi_snn.errors import DataError
from pytorch_kaldi_snn.kaldi import arpa
from pytorch_kaldi_snn.kaldi.gmm import MODEL_FILE, MonoModel
from pytorch_kaldi_snn.kaldi.io import (
    read_fst,
    read_table,
    write_symbols,
    write_text,
    write_with,
)
from pytorch_kaldi_snn.kaldi.lang import load_lang
from pytorch_kaldi_snn.kaldi.mono import load_model, phone_sequence, read_alignments

logger = logging.getLogger(__name__)


def _be():
    from pytorch_kaldi_snn.kaldi._backend import kaldifst, khg

    return kaldifst, khg


def arpa_to_g(arpa_path, words_txt):
    """G.fst from an ARPA file with ``#0`` on back-off arcs (Kaldi's arpa2fst)."""
    kaldifst, _ = _be()
    import kaldilm

    text = kaldilm.arpa2fst(input_arpa=str(arpa_path), disambig_symbol="#0",
                            read_symbol_table=str(words_txt))
    g = kaldifst.compile(text, acceptor=False)
    kaldifst.arcsort(g, sort_type="ilabel")
    return g


def _remove_ilabels(fst, labels: Sequence[int]):
    """Replace the input labels in ``labels`` by epsilon (Kaldi's fstrmsymbols)."""
    kaldifst, _ = _be()
    drop = {str(x) for x in labels}
    if not drop:
        return fst
    lines = []
    for line in fst.to_str(show_weight_one=True).splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in drop:
            parts[2] = "0"
        lines.append("\t".join(parts))
    return kaldifst.compile("\n".join(lines) + "\n", acceptor=False,
                            keep_state_numbering=True)


def compose_hclg(lang_disambig_fst, g_fst, phone_disambig: Sequence[int], tree, tm,
                 self_loop_scale: float = 0.1, transition_scale: float = 1.0):
    """Return HCLG for ``L_disambig`` and ``G`` (both StdVectorFst)."""
    kaldifst, khg = _be()
    kaldifst.arcsort(lang_disambig_fst, sort_type="olabel")
    lg = kaldifst.compose(lang_disambig_fst, g_fst)
    kaldifst.determinize_star(lg, use_log=True)
    kaldifst.minimize_encoded(lg)
    clg, ilabels = kaldifst.compose_context(
        disambig_syms=list(phone_disambig), context_width=tree.context_width,
        central_position=tree.central_position, ifst=lg)
    kaldifst.arcsort(clg, sort_type="ilabel")
    h, disambig_tids = khg.get_h_transducer(
        ilabel_info=ilabels, ctx_dep=tree, trans_model=tm,
        config=khg.HTransducerConfig(transition_scale=transition_scale))
    hclga = kaldifst.compose(h, clg)
    kaldifst.determinize_star(hclga, use_log=True)
    hclga = _remove_ilabels(hclga, disambig_tids)
    kaldifst.rmepsilon(hclga)
    kaldifst.minimize_encoded(hclga)
    hclg = khg.add_self_loops(self_loop_scale=self_loop_scale, disambig_syms=[],
                              reorder=True, trans_model=tm, ifst=hclga)
    kaldifst.arcsort(hclg, sort_type="ilabel")
    return hclg



def _check_model_lang(model: MonoModel, lang_phones: dict, where: Path) -> None:
    real = {p: i for p, i in lang_phones.items()
            if p != "<eps>" and not p.startswith("#")}
    if real != {p: i for p, i in model.phones.items()
                if p != "<eps>" and not p.startswith("#")}:
        raise DataError(f"{where}: the lang folder's phones.txt differs from the one "
                        "the acoustic model was trained with")


def _build(out_dir: Path, model: MonoModel, l_fst, words: Sequence[str],
           sentences: Iterable[Sequence[str]], vocab: Sequence[str], order: int,
           disambig: list[int], kind: str, exp_dir: Path, phones_txt: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_symbols(out_dir / "words.txt", words)
    text = arpa.arpa_text(arpa.estimate(sentences, vocab, order=order))
    write_text(out_dir / "G.arpa", text)
    g = arpa_to_g(out_dir / "G.arpa", out_dir / "words.txt")
    write_with(out_dir / "G.fst", lambda tmp: g.write(tmp))
    graph = compose_hclg(l_fst, g, disambig, model.tree, model.tm)
    if graph.num_states == 0:
        raise DataError(f"{out_dir}: the composed HCLG is empty (L and G share no "
                        "words?)")
    write_with(out_dir / "HCLG.fst", lambda tmp: graph.write(tmp))
    shutil.copyfile(exp_dir / MODEL_FILE, out_dir / MODEL_FILE)
    shutil.copyfile(phones_txt, out_dir / "phones.txt")
    if (phones_txt.parent / "phones").is_dir():  # Kaldi's graph folders hold phones/
        shutil.copytree(phones_txt.parent / "phones", out_dir / "phones",
                        dirs_exist_ok=True)
    write_text(out_dir / "num_pdfs", f"{model.num_pdfs}\n")
    write_text(out_dir / "graph_kind", kind + "\n")
    logger.info("%s graph: HCLG with %d states, %d arcs in %s", kind, graph.num_states,
                sum(graph.num_arcs(s) for s in range(graph.num_states)), out_dir)
    return out_dir


def make_phone_graph(lang_dir, exp_dir, out_dir, train_phones: str | None = None,
                     order: int = 2) -> Path:
    """Phone-loop HCLG with a phone ``order``-gram (default bigram) LM."""
    from pytorch_kaldi_snn.kaldi._backend import kaldifst

    lang_dir, exp_dir, out_dir = Path(lang_dir), Path(exp_dir), Path(out_dir)
    lang = load_lang(lang_dir)
    model = load_model(exp_dir)
    _check_model_lang(model, lang.phones, lang_dir)
    names = {i: p for p, i in lang.phones.items()}
    real = [names[i] for i in lang.real_phones()]
    if train_phones:
        sentences = [v.split() for v in read_table(train_phones).values()]
        for s in sentences:
            bad = [p for p in s if p not in lang.phones or p not in real]
            if bad:
                raise DataError(f"{train_phones}: phones {bad[:3]} are not in "
                                f"{lang_dir / 'phones.txt'}")
    else:
        sentences = [[names[p] for p in phone_sequence(model, a)]
                     for _, a in read_alignments(exp_dir)]
    words = ["<eps>"] + real + ["#0", "<s>", "</s>"]
    wid = {w: i for i, w in enumerate(words)}
    lines = [f"0 0 {lang.phones[p]} {wid[p]} 0" for p in real]
    lines += [f"0 0 {lang.phones['#0']} {wid['#0']} 0", "0"]
    l_fst = kaldifst.compile("\n".join(lines) + "\n", acceptor=False)
    return _build(out_dir, model, l_fst, words, sentences, real, order,
                  [lang.phones["#0"]], "phone", exp_dir, lang_dir / "phones.txt")


def make_word_graph(lang_dir, exp_dir, train_text, out_dir, order: int = 2) -> Path:
    """Word HCLG: the lexicon's ``L_disambig.fst`` and an ``order``-gram from
    ``train_text`` (a Kaldi ``text`` file); words outside the lexicon are an error."""
    lang_dir, exp_dir, out_dir = Path(lang_dir), Path(exp_dir), Path(out_dir)
    if order not in (1, 2, 3, 4):
        raise DataError(f"word LM order must be 1..4, got {order}")
    lang = load_lang(lang_dir)
    model = load_model(exp_dir)
    _check_model_lang(model, lang.phones, lang_dir)
    sentences = []
    for utt, text in read_table(train_text).items():
        bad = [w for w in text.split() if w not in lang.words]
        if bad:
            raise DataError(f"{train_text}: utterance {utt}: word {bad[0]!r} is not in "
                            f"{lang_dir / 'words.txt'}")
        sentences.append(text.split())
    words = [w for w, _ in sorted(lang.words.items(), key=lambda kv: kv[1])]
    vocab = [w for w in words if w not in ("<eps>", "#0", "<s>", "</s>")
             and not w.startswith("!") and not w.startswith("<")]
    l_fst = read_fst(lang_dir / "L_disambig.fst")
    return _build(out_dir, model, l_fst, words, sentences, vocab, order, lang.disambig,
                  "word", exp_dir, lang_dir / "phones.txt")
