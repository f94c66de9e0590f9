"""Training graphs and the flat start of monophone training (Kaldi's
``compile-train-graphs`` and ``align-equal-compiled`` inputs)."""

from __future__ import annotations

import zlib
from pathlib import Path

from pytorch_kaldi_snn.kaldi.gmm import MonoModel
from pytorch_kaldi_snn.kaldi.io import read_fst
from pytorch_kaldi_snn.kaldi.lang import lexicon_fst_without_silence


def training_graphs(model: MonoModel, l_fst, disambig: list[int],
                    transcripts: dict[str, list[int]]):
    """Training graphs (``compile-train-graphs``); ``l_fst`` a path or an FST."""
    from pytorch_kaldi_snn.kaldi._backend import khg

    lex = read_fst(l_fst) if isinstance(l_fst, (str, Path)) else l_fst
    opts = khg.TrainingGraphCompilerOptions()
    # compile-train-graphs sets both scales to 0: gmm.align adds the transition
    # probabilities of the current model (transition 1.0, self-loop 0.1) each pass
    opts.transition_scale, opts.self_loop_scale = 0.0, 0.0
    comp = khg.TrainingGraphCompiler(
        trans_model=model.tm, ctx_dep=model.tree, lex_fst=lex,
        disambig_syms=disambig, opts=opts)
    return {u: comp.compile_graph_from_text(ids) for u, ids in transcripts.items()}


def silence_word(lang) -> int | None:
    """The word id whose only pronunciation is the optional silence (``!SIL``)."""
    lex = lang.lang_dir / "phones" / "lexicon.txt"
    if not lex.is_file():
        return None
    names = {i: p for p, i in lang.phones.items()}
    sil = names[lang.optional_silence]
    for line in lex.read_text().splitlines():
        parts = line.split()
        if parts[1:] == [sil] and parts[0] in lang.words:
            return lang.words[parts[0]]
    return None


def silence_framed_graphs(model: MonoModel, lang, transcripts: dict[str, list[int]]):
    """Training graphs of ``!SIL words... !SIL`` without optional silence between the
    words, for the flat start only.

    The equal alignment spreads each utterance evenly over the states of a random
    path. A path without silence at the ends gives the recording's leading and
    trailing silence to the first and last phones, and one with optional silence
    between words gives SIL speech frames: SIL then starts as a model of speech and
    never wins real silence (measured: SIL got none of 3,369 true silence frames on a
    tiny corpus with 0.3 s of silence at each end). Framing the first pass with
    silence only at the ends, as real recordings are, seeds SIL with them;
    realignment then uses the ordinary graphs, where silence is optional everywhere.
    """
    word = silence_word(lang)
    if word is None:
        return {}
    framed = {}
    for u, ids in transcripts.items():  # TIMIT's texts already open and end with sil
        head = [] if ids[:1] == [word] else [word]
        tail = [] if ids[-1:] == [word] else [word]
        framed[u] = head + list(ids) + tail
    return training_graphs(model, lexicon_fst_without_silence(lang), lang.disambig,
                           framed)


def utt_seed(utt: str, seed: int) -> int:
    """A seed per utterance for the flat start (``align-equal-compiled``).

    One seed for every utterance made every random path take the same choices: with
    seed 0 no path ever entered the optional silence, so SIL had no frames to start
    from and never got any (docs/kaldi-stack.md).
    """
    return zlib.crc32(f"{seed}:{utt}".encode()) & 0x7FFFFFFF
