#!/usr/bin/env bash
# LibriSpeech (train-clean-100, dev-clean, test-clean) with our cfgs
# (cfg/Librispeech_<arch>.cfg). With a compiled Kaldi (--kaldi-egs pointing at a
# finished egs/librispeech/s5 run), the cfg takes Kaldi's fMLLR features, tri4b
# alignments and the tgsmall graph, and PyTorch-Kaldi's decode_dnn.sh decodes. Without
# Kaldi, everything is prepared with the pip-only stack from the OpenSLR folders and the
# lexicon: data dirs, fbank + MFCC features, monophone alignments and a word-bigram graph.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stage=0
stop_stage=100
libri=""
lexicon=""
kaldi_egs=""
decoding_scripts=""
arch=v2
dir=exp/librispeech
nj=2
feats=fbank
use_cuda=False
epochs=""
help_message="Usage: bash recipes/librispeech/run.sh --libri /path/to/LibriSpeech [options]
  --stage N             first stage (default 0)    --stop-stage N  last stage (default 100)
    without Kaldi: 0 data dirs + dict + lang, 1 features, 2 monophone alignments,
                   3 word-bigram graph, 4 render the cfg, 5 train/forward/decode
    with Kaldi:    4 render the cfg from the egs outputs, 5 train/forward/decode
  --libri DIR           folder holding train-clean-100/, dev-clean/, test-clean/ (.flac
                        needs the soundfile package; .wav files work without it)
  --lexicon FILE        librispeech-lexicon.txt (default: <libri>/librispeech-lexicon.txt)
  --kaldi-egs DIR       a finished Kaldi egs/librispeech/s5 (data-fmllr-tri4b,
                        exp/tri4b_ali_*, exp/tri4b/graph_tgsmall); selects the Kaldi route
  --decoding-scripts D  PyTorch-Kaldi's kaldi_decoding_scripts folder (Kaldi route)
  --arch A              lstm | gru | trad | v1 | v2 (default v2)
  --dir D               working folder (default exp/librispeech)
  --nj N                parallel jobs (default 2)
  --feats F             fbank | mfcc: network input on the pip-only route (default fbank)
  --use-cuda B          True to train on the GPU (default False)
  --epochs N            override the cfg's n_epochs_tr"

. "$ROOT/recipes/common/parse_options.sh"
. "$ROOT/recipes/common/log.sh"
. "$ROOT/recipes/demo/path.sh"
cd "$ROOT"
case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
declare -A CFG=([lstm]=Librispeech_LSTM [gru]=Librispeech_GRU \
                [trad]=Librispeech_SNN_traditional [v1]=Librispeech_SNN_v1 \
                [v2]=Librispeech_SNN_v2)
[ -n "${CFG[$arch]+x}" ] || { echo "$0: --arch must be lstm, gru, trad, v1 or v2" >&2; exit 1; }
case "$feats" in fbank|mfcc) ;; *) echo "$0: --feats must be fbank or mfcc" >&2; exit 1 ;; esac
if [ -n "$kaldi_egs" ]; then
  for f in data-fmllr-tri4b/train_clean_100/feats.scp exp/tri4b_ali_clean_100/final.mdl \
           exp/tri4b/graph_tgsmall/HCLG.fst; do
    [ -e "$kaldi_egs/$f" ] || { echo "$0: $kaldi_egs/$f missing (run Kaldi's egs/librispeech/s5 and PyTorch-Kaldi's fMLLR steps first)" >&2; exit 1; }
  done
  [ -d "$decoding_scripts" ] || { echo "$0: --decoding-scripts must name PyTorch-Kaldi's kaldi_decoding_scripts folder" >&2; exit 1; }
elif [ "$stage" -le 0 ] && [ ! -d "$libri" ]; then
  echo "$0: --libri must name the LibriSpeech folder (or give --kaldi-egs)" >&2; exit 1
fi

data="$dir/data"
tr=train_clean_100
mkdir -p "$dir"
. "$ROOT/recipes/common/stages.sh"

if [ -z "$kaldi_egs" ]; then
  if run_stage 0 && ! done_before 0; then
    begin 0 "LibriSpeech data dirs, dict and lang from $libri"
    pytorch-kaldi-snn prepare-librispeech "$libri" "$dir" \
      --parts train-clean-100 dev-clean test-clean ${lexicon:+--lexicon "$lexicon"}
    pytorch-kaldi-snn prepare-lang "$data/local/dict" "$data/lang"
    end 0
  fi
  if run_stage 1 && ! done_before 1; then
    begin 1 "MFCC (alignment) and fbank (network) features"
    make_features "$data" "$nj" $tr dev_clean test_clean
    end 1
  fi
  if run_stage 2 && ! done_before 2 tid; then
    begin 2 "monophone GMM-HMM training and alignment"
    align_sets "$data" "$dir" "$nj" "$tr" dev_clean test_clean
    end 2 tid
  fi
  if run_stage 3 && ! done_before 3 tid; then
    begin 3 "word-bigram graph (words outside the lexicon as <UNK>)"
    pytorch-kaldi-snn mkgraph "$data/lang" "$dir/mono" "$dir/graph_word" --kind word \
      --train-text "$data/$tr/text_lm"
    end 3 tid
  fi
  if [ "$feats" = fbank ]; then sfx=_fbank; else sfx=""; fi
  tokens=(FEATS_TRAIN="$data/$tr$sfx" FEATS_DEV="$data/dev_clean$sfx"
          FEATS_TEST="$data/test_clean$sfx" ALI_TRAIN="$dir/mono"
          ALI_DEV="$dir/mono_dev_clean" ALI_TEST="$dir/mono_test_clean"
          DATA_TRAIN="$data/$tr" DATA_DEV="$data/dev_clean" DATA_TEST="$data/test_clean"
          GRAPH_DIR="$dir/graph_word"
          DECODING_SCRIPT_FOLDER="$ROOT/recipes/librispeech/local"
          SCORING_SCRIPT="$ROOT/recipes/librispeech/local/score.sh")
else
  e="$kaldi_egs"
  tokens=(FEATS_TRAIN="$e/data-fmllr-tri4b/train_clean_100"
          FEATS_DEV="$e/data-fmllr-tri4b/dev_clean"
          FEATS_TEST="$e/data-fmllr-tri4b/test_clean"
          ALI_TRAIN="$e/exp/tri4b_ali_clean_100" ALI_DEV="$e/exp/tri4b_ali_dev_clean"
          ALI_TEST="$e/exp/tri4b_ali_test_clean" DATA_TRAIN="$e/data/train_clean_100"
          DATA_DEV="$e/data/dev_clean" DATA_TEST="$e/data/test_clean"
          GRAPH_DIR="$e/exp/tri4b/graph_tgsmall" DECODING_SCRIPT_FOLDER="$decoding_scripts"
          SCORING_SCRIPT="$e/local/score.sh")
fi

cfg_stages "${CFG[$arch]}" "$dir/$arch" "$epochs" USE_CUDA="$use_cuda" "${tokens[@]}"
