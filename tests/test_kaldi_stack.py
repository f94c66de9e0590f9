"""The Kaldi stack on the tiny demo corpus: lang FSTs, monophone alignment
(transition ids), phone and word HCLG, raw-lattice decoding, the LM-weight sweep chosen
on dev, scoring, the runner's label reading and priors, bad input."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pytorch_kaldi_snn.errors import DataError

kaldialign = pytest.importorskip("kaldialign")


@pytest.fixture(scope="module")
def hclg_exp(tiny_aligned) -> dict:
    """conftest's tiny corpus: data/lang from the corpus build, train/dev alignments,
    phone/word HCLG."""
    return tiny_aligned


def _ali_bytes(folder: Path) -> bytes:
    out = b""
    for path in sorted(folder.glob("ali.*.gz")):
        with gzip.open(path) as f:
            out += f.read()
    return out


def _onehot(pdfs: np.ndarray, n: int) -> np.ndarray:
    x = np.full((len(pdfs), n), -30.0, dtype=np.float32)
    x[np.arange(len(pdfs)), pdfs] = 0.0
    return x


def _error_rate(refs: dict, hyp_file: Path) -> float:
    hyps = {}
    for line in hyp_file.read_text().splitlines():
        parts = line.split()
        hyps[parts[0]] = parts[1:]
    errors = sum(kaldialign.edit_distance(r, hyps[u])["total"] for u, r in refs.items())
    return 100.0 * errors / sum(len(r) for r in refs.values())


def test_lang_passes_checks_and_disambiguates(hclg_exp):
    from pytorch_kaldi_snn.kaldi.io import read_fst
    from pytorch_kaldi_snn.kaldi.lang import check_lang, load_lang

    lang_dir = hclg_exp["data"] / "lang"
    assert check_lang(lang_dir) == []
    lang = load_lang(lang_dir)
    assert lang.phones["<eps>"] == 0 and lang.words["<eps>"] == 0
    assert "#0" in lang.words and lang.phones["#0"] in lang.disambig
    assert lang.optional_silence in lang.silence
    for name in ("L.fst", "L_disambig.fst"):
        fst = read_fst(lang_dir / name)
        assert fst.num_states > 3
    if shutil.which("fstinfo"):
        out = subprocess.run(["fstinfo", str(lang_dir / "L.fst")], capture_output=True,
                             text=True, check=True).stdout
        assert "vector" in out


def test_disambiguation_of_homophones_and_prefixes(tmp_path):
    from pytorch_kaldi_snn.kaldi.lang import load_lang, prepare_lang

    d = tmp_path / "dict"
    d.mkdir()
    (d / "lexicon.txt").write_text("!SIL SIL\na a\nan a n\nbee b i\nbe b i\n")
    (d / "silence_phones.txt").write_text("SIL\n")
    (d / "nonsilence_phones.txt").write_text("a\nn\nb\ni\n")
    (d / "optional_silence.txt").write_text("SIL\n")
    lang = load_lang(prepare_lang(d, tmp_path / "lang"))
    lex = (tmp_path / "lang" / "phones" / "lexicon.txt").read_text()
    assert "bee b i" in lex
    # "a" is a prefix of "a n", "be"/"bee" are homophones: #1 and #2 exist, plus #0 and
    # the silence disambiguator.
    assert {"#0", "#1", "#2", "#3"} <= set(lang.phones)


def test_alignments_match_features_and_model(hclg_exp):
    from pytorch_kaldi_snn.kaldi import mono
    from pytorch_kaldi_snn.kaldi.io import load_features

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    for split, ali_dir in (("train", exp / "mono"), ("dev", exp / "mono_dev")):
        feats = load_features(data / split)
        tids = dict(mono.read_alignments(ali_dir))
        assert set(tids) == set(feats)
        assert all(len(tids[u]) == len(feats[u]) for u in feats)
        pdfs = mono.ali_to_pdf(ali_dir)
        n = mono.num_pdfs(ali_dir)
        assert all(0 <= p.min() and p.max() < n for p in pdfs.values())
        phones = mono.ali_to_phones_per_frame(ali_dir)
        assert all(len(phones[u]) == len(feats[u]) for u in feats)
        counts = mono.pdf_counts(ali_dir)
        assert counts.sum() == sum(len(x) for x in feats.values())
    assert mono.check_alignments(exp / "mono_dev", data / "dev") == len(feats)
    err = float((exp / "mono" / "boundary_error.txt").read_text().split()[1])
    assert err <= 3.0  # measured 2.0 frames on tiny


def test_training_is_reproducible_across_processes(hclg_exp, tmp_path):
    data, exp = hclg_exp["data"], hclg_exp["exp"]
    code = ("import sys; from pytorch_kaldi_snn.kaldi import mono; "
            "mono.train_mono_and_align(sys.argv[1], sys.argv[2], sys.argv[3], nj=1)")
    subprocess.run([sys.executable, "-c", code, str(data / "train"), str(data / "lang"),
                    str(tmp_path / "again")], check=True, capture_output=True)
    assert _ali_bytes(tmp_path / "again") == _ali_bytes(exp / "mono")


def test_onehot_of_alignment_decodes_back_through_phone_hclg(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import mono
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes

    exp = hclg_exp["exp"]
    model = mono.load_model(exp / "mono_dev")
    names = {i: p for p, i in model.phones.items()}
    table, refs = {}, {}
    for utt, tids in mono.read_alignments(exp / "mono_dev"):
        table[utt] = _onehot(model.pdf_of()[tids], model.num_pdfs)
        refs[utt] = [names[p] for p in mono.phone_sequence(model, tids)]
    out = decode_loglikes(table, exp / "graph_phone", tmp_path / "dec", lmwts=[10],
                          wips=[0.0], nj=2)
    assert _error_rate(refs, out / "hyp_10_0.txt") <= 1.0  # measured 0.0


def test_gmm_likelihoods_give_low_phone_error(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import gmm, mono
    from pytorch_kaldi_snn.kaldi.io import load_features
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    model = mono.load_model(exp / "mono")
    names = {i: p for p, i in model.phones.items()}
    feats = load_features(data / "train")
    utts = sorted(feats)[:12]
    table = {u: gmm.loglikes(model, feats[u]) for u in utts}
    alis = dict(mono.read_alignments(exp / "mono"))
    refs = {u: [names[p] for p in mono.phone_sequence(model, alis[u])] for u in utts}
    out = decode_loglikes(table, exp / "graph_phone", tmp_path / "dec", lmwts=[2, 6],
                          wips=[0.0], nj=2)
    per = min(_error_rate(refs, out / f"hyp_{w}_0.txt") for w in (2, 6))
    assert per < 30.0  # measured about 15 on the training speakers


def test_word_graph_onehot_and_scoring_files(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import mono
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.score import best_wer, score_dir

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    pdfs = mono.ali_to_pdf(exp / "mono_dev")
    n = mono.num_pdfs(exp / "mono_dev")
    out = decode_loglikes({u: _onehot(p, n) for u, p in pdfs.items()},
                          exp / "graph_word", tmp_path / "dec", exp_dir=exp / "mono",
                          lmwts=[8, 12], wips=[0.0, 0.5], nj=1)
    assert sorted(p.name for p in out.glob("hyp_*.txt")) == [
        "hyp_12_0.5.txt", "hyp_12_0.txt", "hyp_8_0.5.txt", "hyp_8_0.txt"]
    line, rate = score_dir(out, data / "dev")
    assert line.startswith("%WER") and rate <= 5.0  # measured 1.35
    assert "%WER" in str(best_wer(out))
    assert "real_time_factor" in (out / "decode.log").read_text()


def test_best_paths_follow_the_lm_weight():
    from pytorch_kaldi_snn.kaldi.lattice import best_paths, parse_lattice

    # Two paths 0->1->2: word 5 (graph 0, acoustic 10) or word 7 (graph 3, acoustic 4).
    text = "0\t1\t1\t5\t0,10\n0\t1\t2\t7\t3,4\n1\t2\t3\t0\t0,0\n2\t0,0\n"
    arcs, weights, finals = parse_lattice(text)
    scales = np.array([1.0, 0.1])  # acoustic weight 1 vs 0.1 (a high LM weight)
    paths = best_paths(arcs, weights, finals, 0, scales, np.zeros(2))
    assert paths == [[7], [5]]
    # A large insertion penalty cannot change a one-word choice; costs stay finite.
    assert best_paths(arcs, weights, finals, 0, scales, np.full(2, 9.0)) == [[7], [5]]


@pytest.mark.parametrize("order", [2, 3])
def test_arpa_distributions_sum_to_one(order):
    from pytorch_kaldi_snn.kaldi.arpa import estimate

    sents = [["a", "b", "c"], ["a", "c"], ["b", "a", "b", "d"], ["c", "c", "a"]]
    vocab = ["a", "b", "c", "d", "e"]
    model = estimate(sents, vocab, order=order)

    def log10p(hist: tuple, w: str) -> float:
        gram = (*hist, w)
        if gram in model[len(gram) - 1]:
            return model[len(gram) - 1][gram][0]
        bo = model[len(hist) - 1].get(hist, (0.0, 0.0))[1]
        return bo + log10p(hist[1:], w)

    hists = [("<s>",), ("a",), ("e",), ("<s>", "a"), ("a", "b"), ("c", "c")]
    for h in hists[: 3 if order == 2 else 6]:
        total = sum(10 ** log10p(h, w) for w in [*vocab, "</s>"])
        assert total == pytest.approx(1.0, abs=1e-6)


def test_bad_input_is_located_and_writes_nothing(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import mono
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    bad = tmp_path / "bad_data"
    shutil.copytree(data / "dev", bad)
    lines = (bad / "text").read_text().splitlines()
    utt = lines[0].split()[0]
    lines[0] = f"{utt} zyzzyva"
    (bad / "text").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"{utt}.*zyzzyva"):
        mono.align_data(bad, exp / "mono", tmp_path / "ali_bad")
    assert not (tmp_path / "ali_bad").exists()

    with pytest.raises(DataError, match="utt1.*pdfs"):
        decode_loglikes({"utt1": np.zeros((5, 3), np.float32)}, exp / "graph_phone",
                        tmp_path / "dec_bad")
    assert not (tmp_path / "dec_bad").exists()

    ali = min((exp / "mono_dev").glob("ali.*.gz"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("final.mdl.pkl", "num_pdfs"):
        shutil.copyfile(exp / "mono_dev" / f, broken / f)
    with gzip.open(ali) as f:
        raw = f.read()
    with gzip.open(broken / "ali.1.gz", "wb") as f:
        f.write(raw[: len(raw) - 7])
    with pytest.raises(DataError, match="ali.1.gz"):
        mono.ali_to_pdf(broken)

    (tmp_path / "other").mkdir()
    shutil.copyfile(exp / "mono" / "final.mdl.pkl",
                    tmp_path / "other" / "final.mdl.pkl")
    text = (tmp_path / "other" / "final.mdl.pkl").read_bytes()
    (tmp_path / "other" / "final.mdl.pkl").write_bytes(text[:100])
    with pytest.raises(DataError, match="final.mdl.pkl"):
        decode_loglikes({}, exp / "graph_phone", tmp_path / "dec2",
                        exp_dir=tmp_path / "other")


def test_real_kaldi_bridge_refuses_without_kaldi(monkeypatch, tmp_path):
    from pytorch_kaldi_snn.kaldi import bridge

    monkeypatch.delenv("KALDI_ROOT", raising=False)
    assert not bridge.kaldi_available()
    with pytest.raises(DataError, match="KALDI_ROOT"):
        bridge.decode_with_kaldi("x.ark", tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _sclite_counts(refs: dict, hyps: dict, folder: Path) -> dict:
    """Errors by sclite (Debian's sctk) on the same texts; tokens renamed w0, w1, ...
    because sclite drops a bare '@' and ignores case."""
    import re

    names: dict = {}

    def trn(table: dict, path: Path) -> None:
        lines = []
        for i, utt in enumerate(sorted(refs)):
            toks = [names.setdefault(t, f"w{len(names)}") for t in table.get(utt, [])]
            lines.append(f"{' '.join(toks)} (spk-{i:05d})")
        path.write_text("\n".join(lines) + "\n")

    trn(refs, folder / "ref.trn")
    trn(hyps, folder / "hyp.trn")
    out = subprocess.run(["sctk", "sclite", "-r", str(folder / "ref.trn"), "trn", "-h",
                          str(folder / "hyp.trn"), "trn", "-i", "rm", "-o", "dtl",
                          "stdout"], capture_output=True, text=True, check=True).stdout
    found = {}
    for key, name in (("Total Error", "total"), ("Substitution", "sub"),
                      ("Deletions", "del"), ("Insertions", "ins")):
        m = re.search(rf"Percent {key}\s*=\s*[\d.]+%\s*\(\s*(\d+)\)", out)
        found[name] = int(m.group(1))
    return found


@pytest.mark.skipif(not shutil.which("sctk"), reason="sctk (sclite) not installed")
def test_scoring_equals_sclite(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import gmm, mono
    from pytorch_kaldi_snn.kaldi.io import load_features
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.score import error_counts

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    model = mono.load_model(exp / "mono")
    feats = load_features(data / "dev")
    table = {u: gmm.loglikes(model, feats[u]) for u in sorted(feats)[:4]}
    out = decode_loglikes(table, exp / "graph_phone", tmp_path / "dec", lmwts=[4],
                          wips=[0.0], nj=2)
    refs = {ln.split()[0]: ln.split()[1:] for ln in
            (data / "dev" / "text_phones").read_text().splitlines()
            if ln.split()[0] in table}
    hyps = {ln.split()[0]: ln.split()[1:] for ln in
            (out / "hyp_4_0.txt").read_text().splitlines()}
    ours = {"ins": 0, "del": 0, "sub": 0}
    for u, r in refs.items():
        i, d, s = error_counts(r, hyps.get(u, []))
        ours["ins"] += i
        ours["del"] += d
        ours["sub"] += s
    theirs = _sclite_counts(refs, hyps, tmp_path)
    assert theirs["total"] == sum(ours.values()) > 0
    assert (theirs["ins"], theirs["del"], theirs["sub"]) == (
        ours["ins"], ours["del"], ours["sub"])


def test_scoring_equals_hand_computed_edit_distance(tmp_path):
    from pytorch_kaldi_snn.kaldi.score import wer_line

    refs = {"u1": ["a", "b", "c", "d"], "u2": ["e", "f", "g"]}
    hyps = {"u1": ["a", "x", "c"], "u2": ["e", "f", "f", "g", "h"]}
    # u1: b->x substitution, d deleted; u2: two insertions -> 4 errors over 7 words.
    line, rate, counts = wer_line(refs, hyps, "wer_1_0")
    assert counts == {"errors": 4, "words": 7, "ins": 2, "del": 1, "sub": 1}
    assert line.startswith("%WER 57.14 [ 4 / 7, 2 ins, 1 del, 1 sub ]")
    assert rate == pytest.approx(400 / 7)


def test_cli_align_mkgraph_decode_score(hclg_exp, tmp_path, capsys):
    import kaldiio

    from pytorch_kaldi_snn import cli
    from pytorch_kaldi_snn.kaldi import mono

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    for sub in ("align", "mkgraph", "decode", "score"):
        with pytest.raises(SystemExit) as info:
            cli.main([sub, "--help"])
        assert info.value.code == 0
        assert "--" in capsys.readouterr().out
    assert cli.main(["align", "--model-dir", str(exp / "mono"),
                     str(data / "dev"), str(data / "lang"), str(tmp_path / "ali")]) == 0
    assert cli.main(["mkgraph", "--kind", "word", "--train-text",
                     str(data / "train" / "text"), str(data / "lang"),
                     str(exp / "mono"), str(tmp_path / "graph")]) == 0
    n = mono.num_pdfs(tmp_path / "ali")
    ark = tmp_path / "loglikes.ark"
    kaldiio.save_ark(str(ark), {u: _onehot(p, n)
                                for u, p in mono.ali_to_pdf(tmp_path / "ali").items()})
    capsys.readouterr()
    assert cli.main(["decode", "--lmwts", "10", "--wips", "0",
                     "--data-dir", str(data / "dev"), str(tmp_path / "graph"),
                     str(tmp_path / "dec"), str(ark)]) == 0
    assert capsys.readouterr().out.startswith("%WER")
    assert (tmp_path / "dec" / "wer_10_0").is_file()


def test_frame_count_mismatch_names_the_utterance(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import mono

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    lines = (data / "dev" / "feats.scp").read_text().splitlines()
    (u1, _), (_, spec2) = lines[0].split(maxsplit=1), lines[1].split(maxsplit=1)
    lines[0] = f"{u1} {spec2}"  # u1 now points at another utterance's features
    (tmp_path / "feats.scp").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"utterance {u1} has .* aligned frames but"):
        mono.check_alignments(exp / "mono_dev", tmp_path)


def test_package_api(hclg_exp, tmp_path):
    """The names the runner and recipes call: pytorch_kaldi_snn.kaldi.{ali_to_pdf,
    num_pdfs, ali_to_phones_per_frame, decode_loglikes}."""
    from pytorch_kaldi_snn import kaldi
    from pytorch_kaldi_snn.kaldi import mono

    exp = hclg_exp["exp"]
    pdfs = kaldi.ali_to_pdf(exp / "mono_dev")
    assert {u: list(p) for u, p in pdfs.items()} == {
        u: list(p) for u, p in mono.ali_to_pdf(exp / "mono_dev").items()}
    n = kaldi.num_pdfs(exp / "mono_dev")
    phones = kaldi.ali_to_phones_per_frame(exp / "mono_dev")
    assert all(len(phones[u]) == len(p) for u, p in pdfs.items())
    out = kaldi.decode_loglikes({u: _onehot(p, n) for u, p in pdfs.items()},
                                exp / "graph_word", tmp_path / "dec", lmwts=[10],
                                wips=[0.0], nj=1, acwt=0.1, max_active=7000)
    assert (out / "hyp_10_0.txt").is_file() and (out / "decode.log").is_file()


def test_flat_start_enters_the_optional_silence(hclg_exp):
    """One seed for every utterance made every equal alignment skip the optional
    silence, so SIL never got frames (issue 11); a seed per utterance does not."""
    from pytorch_kaldi_snn.kaldi import flatstart, gmm, mono
    from pytorch_kaldi_snn.kaldi.io import load_features
    from pytorch_kaldi_snn.kaldi.lang import load_lang

    data = hclg_exp["data"]
    lang = load_lang(data / "lang")
    texts = dict(sorted(mono._word_ids(data / "train", lang.words).items())[:12])
    feats = load_features(data / "train")
    model = gmm.init_mono(lang.topo_text(), lang.phones, [feats[u] for u in texts])
    graphs = flatstart.training_graphs(model, data / "lang" / "L.fst", lang.disambig,
                                       texts)
    phone_of, sil = model.phone_of(), lang.phones["SIL"]
    sil_frames = sum(
        int((phone_of[gmm.equal_align(graphs[u], len(feats[u]),
                                      flatstart.utt_seed(u, 0))] == sil).sum())
        for u in texts)
    assert sil_frames > 0


def test_every_phone_of_the_transcripts_gets_frames(hclg_exp):
    from pytorch_kaldi_snn.kaldi import mono
    from pytorch_kaldi_snn.kaldi.io import read_symbols
    from pytorch_kaldi_snn.kaldi.lang import read_lexicon

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    lex = {}
    for word, pron in read_lexicon(data / "local" / "dict" / "lexicon.txt"):
        lex.setdefault(word, pron)
    used = {p for line in (data / "train" / "text").read_text().splitlines()
            for w in line.split()[1:] for p in lex[w]}
    phones = read_symbols(data / "lang" / "phones.txt")
    frames = np.bincount(np.concatenate(list(
        mono.ali_to_phones_per_frame(exp / "mono").values())), minlength=len(phones))
    assert [p for p in sorted(used) if frames[phones[p]] == 0] == []
    # SIL: its 5-state HMM needs 3 frames; it must get the silences that long
    long_sil = 0
    for line in (data / "train" / "phone_times.txt").read_text().splitlines():
        _, start, end, phone = line.split()
        if phone == "SIL" and int(end) - int(start) >= 3:
            long_sil += int(end) - int(start)
    if long_sil >= 100:
        assert frames[phones["SIL"]] >= long_sil / 2, (frames[phones["SIL"]], long_sil)


def test_labels_and_priors_read_the_kaldi_folder(hclg_exp):
    """The runner's ali-to-pdf reader maps transition ids to pdfs through the model;
    priors stay finite for pdfs no training frame has."""
    from pytorch_kaldi_snn.kaldi import mono
    from pytorch_kaldi_snn.runner.labels import count_labels, log_priors, read_labels

    exp = hclg_exp["exp"]
    labels = read_labels(str(exp / "mono"), "ali-to-pdf")
    want = mono.ali_to_pdf(exp / "mono")
    assert set(labels) == set(want)
    assert all(np.array_equal(labels[u], want[u]) for u in want)
    n = mono.num_pdfs(exp / "mono")
    counts = count_labels(labels, n)
    assert (counts == 0).any()  # pdfs of phones only dev/test words use
    prior = log_priors(counts)
    assert np.isfinite(prior).all() and prior.max() < 0
    # an unseen pdf gets the largest prior: it cannot win frames through a tiny prior
    assert prior[counts == 0].min() == pytest.approx(prior.max())
    phones = read_labels(str(exp / "mono"), "ali-to-phones --per-frame=true")
    assert all(len(phones[u]) == len(want[u]) for u in want)
    (exp / "mono" / "num_pdfs").read_text()  # Kaldi's layout beside the alignments
    assert (exp / "mono" / "phones.txt").is_file()
    assert (exp / "mono" / "phones" / "silence.csl").is_file()


def test_lattices_are_kaldi_text_arks_and_rescore_like_the_decoder(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import gmm, mono
    from pytorch_kaldi_snn.kaldi.io import load_features
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.lattice import read_lattices, rescore

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    model = mono.load_model(exp / "mono")
    feats = load_features(data / "dev")
    table = {u: gmm.loglikes(model, feats[u]) for u in sorted(feats)[:3]}
    out = decode_loglikes(table, exp / "graph_phone", tmp_path / "dec", lmwts=[4, 9],
                          wips=[0.0, 1.0], nj=1)
    text = gzip.open(out / "lat.1.gz", "rt").read()
    first = text.splitlines()
    assert first[0] == sorted(table)[0] and len(first[1].split("\t")) == 5
    assert len(dict(read_lattices(out / "lat.1.gz"))) == 3
    decoded = (out / "hyp_9_1.txt").read_text()
    (out / "hyp_9_1.txt").unlink()
    rescore(out, [(9.0, 1.0), (2.5, 0.0)])
    assert (out / "hyp_9_1.txt").read_text() == decoded
    assert (out / "hyp_2.5_0.txt").is_file()


def test_grid_widens_and_test_uses_the_dev_setting(hclg_exp, tmp_path):
    import json

    from pytorch_kaldi_snn import cli
    from pytorch_kaldi_snn.kaldi import gmm, mono
    from pytorch_kaldi_snn.kaldi.io import load_features
    from pytorch_kaldi_snn.kaldi.latgen import decode_loglikes
    from pytorch_kaldi_snn.kaldi.sweep import score_sweep

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    model = mono.load_model(exp / "mono")
    feats = load_features(data / "dev")
    table = {u: gmm.loglikes(model, feats[u]) for u in sorted(feats)[:6]}
    refs = tmp_path / "dev6"  # a data folder of those utterances
    refs.mkdir()
    for name in ("text", "text_phones"):
        lines = (data / "dev" / name).read_text().splitlines()
        (refs / name).write_text("".join(f"{x}\n" for x in lines
                                         if x.split()[0] in table))
    # one setting to start from, far below the GMM's best LM weight (about 8)
    dev = decode_loglikes(table, exp / "graph_phone", tmp_path / "dev", lmwts=[1],
                          wips=[0.0], nj=1)
    summary = score_sweep(dev, refs)
    grid = {(a, b) for a, b, _ in summary["grid"]}
    assert summary["widened"] >= 1 and len(grid) > 1
    best = summary["best"]
    assert not best["at_edge"]
    assert min(a for a, _ in grid) < best["lmwt"] < max(a for a, _ in grid)
    assert (dev / "best_wer").read_text().startswith("%WER")
    # "test": the dev-best setting is applied, and named in the outputs
    test = tmp_path / "test"
    assert cli.main(["decode", "--lmwts", "20", "--wips", "0", "--select-from",
                     str(dev), "--data-dir", str(refs),
                     str(exp / "graph_phone"), str(test),
                     *[str(p) for p in _write_ark(table, tmp_path)]]) == 0
    sel = json.loads((test / "scoring.json").read_text())["selected"]
    assert (sel["lmwt"], sel["wip"]) == (best["lmwt"], best["wip"])
    line = (test / "dev_selected_wer").read_text()
    assert line.startswith("%WER") and f"chosen on {dev}" in line
    # same utterances, same setting: the same rate, found by rescoring test's lattices
    table_utts = (test / f"hyp_{best['lmwt']:g}_{best['wip']:g}.txt").read_text()
    assert len(table_utts.splitlines()) == 6


def _write_ark(table: dict, folder: Path) -> list[Path]:
    import kaldiio

    path = folder / "ll.ark"
    kaldiio.save_ark(str(path), table)
    return [path]


def test_bad_word_in_the_training_text_is_named(hclg_exp, tmp_path):
    from pytorch_kaldi_snn.kaldi import hclg

    data, exp = hclg_exp["data"], hclg_exp["exp"]
    text = tmp_path / "text"
    text.write_text("u1 zyzzyva\n")
    with pytest.raises(DataError, match="zyzzyva"):
        hclg.make_word_graph(data / "lang", exp / "mono", text, tmp_path / "g")


def test_timit_folding():
    from pytorch_kaldi_snn.kaldi.score import fold_timit

    assert fold_timit(["h#", "ax-h", "q", "zh", "pcl", "aa"]) == ["sil", "ah", "sh",
                                                                  "sil", "aa"]
    with pytest.raises(DataError):
        fold_timit(["xx"])
