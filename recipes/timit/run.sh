#!/usr/bin/env bash
# TIMIT phone recognition with our cfgs (cfg/TIMIT_<arch>.cfg).
# With a compiled Kaldi (--kaldi-egs pointing at a finished egs/timit/s5 run), the
# cfg takes Kaldi's fMLLR features, tri3 alignments and graph, and PyTorch-Kaldi's
# decode_dnn.sh decodes. Without Kaldi, everything is prepared with the pip-only stack
# from the LDC TIMIT folder: data dirs, fbank + MFCC features, monophone alignments and
# a phone-bigram graph.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stage=0
stop_stage=100
timit=""
kaldi_egs=""
decoding_scripts=""
arch=v2
dir=exp/timit
nj=2
phone_set=39
feats=fbank
use_cuda=False
epochs=""
dev_spk="${KALDI_ROOT:+$KALDI_ROOT/egs/timit/s5/conf/dev_spk.list}"
help_message="Usage: bash recipes/timit/run.sh --timit /path/to/TIMIT [options]
  --stage N             first stage (default 0)    --stop-stage N  last stage (default 100)
    without Kaldi: 0 data dirs + dict + lang, 1 features, 2 monophone alignments,
                   3 phone-bigram graph, 4 render the cfg, 5 train/forward/decode
    with Kaldi:    4 render the cfg from the egs outputs, 5 train/forward/decode
  --timit DIR           LDC TIMIT folder holding TRAIN/ and TEST/ (pip-only route)
  --kaldi-egs DIR       a finished Kaldi egs/timit/s5 (data-fmllr-tri3, exp/tri3_ali*,
                        exp/tri3/graph); selects the Kaldi route
  --decoding-scripts D  PyTorch-Kaldi's kaldi_decoding_scripts folder (Kaldi route)
  --arch A              lstm | gru | trad | v1 | v2 (default v2)
  --dir D               working folder (default exp/timit)
  --nj N                parallel jobs (default 2)
  --dev-spk FILE        the 50 dev speakers (default: Kaldi's conf/dev_spk.list when
                        KALDI_ROOT is set, else every third non-core test speaker)
  --phone-set S         39 | 48 | 61 labels for the pip-only route (default 39: PER
                        is then scored on the standard 39-phone set directly)
  --feats F             fbank | mfcc: network input on the pip-only route (default fbank)
  --use-cuda B          True to train on the GPU (default False)
  --epochs N            override the cfg's n_epochs_tr (default: the cfg's 24)"

. "$ROOT/recipes/common/parse_options.sh"
. "$ROOT/recipes/common/log.sh"
. "$ROOT/recipes/demo/path.sh"
cd "$ROOT"
case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
declare -A CFG=([lstm]=TIMIT_LSTM [gru]=TIMIT_GRU [trad]=TIMIT_SNN_traditional \
                [v1]=TIMIT_SNN_v1 [v2]=TIMIT_SNN_v2)
[ -n "${CFG[$arch]+x}" ] || { echo "$0: --arch must be lstm, gru, trad, v1 or v2" >&2; exit 1; }
case "$feats" in fbank|mfcc) ;; *) echo "$0: --feats must be fbank or mfcc" >&2; exit 1 ;; esac
case "$phone_set" in 39|48|61) ;; *) echo "$0: --phone-set must be 39, 48 or 61" >&2; exit 1 ;; esac
if [ -n "$kaldi_egs" ]; then
  for f in data-fmllr-tri3/train/feats.scp exp/tri3_ali/final.mdl exp/tri3/graph/HCLG.fst; do
    [ -e "$kaldi_egs/$f" ] || { echo "$0: $kaldi_egs/$f missing (run Kaldi's egs/timit/s5 first)" >&2; exit 1; }
  done
  [ -d "$decoding_scripts" ] || { echo "$0: --decoding-scripts must name PyTorch-Kaldi's kaldi_decoding_scripts folder" >&2; exit 1; }
elif [ "$stage" -le 0 ] && [ ! -d "$timit" ]; then
  echo "$0: --timit must name the TIMIT folder (or give --kaldi-egs)" >&2; exit 1
fi

data="$dir/data"
mkdir -p "$dir"
. "$ROOT/recipes/common/stages.sh"

if [ -z "$kaldi_egs" ]; then
  if run_stage 0 && ! done_before 0; then
    begin 0 "TIMIT data dirs ($phone_set phones), dict and lang from $timit"
    [ -f "$dev_spk" ] || dev_spk=""
    pytorch-kaldi-snn prepare-timit "$timit" "$dir" --phone-set "$phone_set" \
      ${dev_spk:+--dev-speakers "$dev_spk"}
    pytorch-kaldi-snn prepare-lang "$data/local/dict" "$data/lang"
    end 0
  fi
  if run_stage 1 && ! done_before 1; then
    begin 1 "MFCC (alignment) and fbank (network) features"
    make_features "$data" "$nj" train dev test
    end 1
  fi
  if run_stage 2 && ! done_before 2 tid; then
    begin 2 "monophone GMM-HMM training and alignment"
    align_sets "$data" "$dir" "$nj" train dev test
    end 2 tid
  fi
  if run_stage 3 && ! done_before 3 tid; then
    begin 3 "phone-bigram graph"
    pytorch-kaldi-snn mkgraph "$data/lang" "$dir/mono" "$dir/graph_phone" --kind phone \
      --train-text "$data/train/text_phones"
    end 3 tid
  fi
  if [ "$feats" = fbank ]; then sfx=_fbank; else sfx=""; fi
  tokens=(FEATS_TRAIN="$data/train$sfx" FEATS_DEV="$data/dev$sfx"
          FEATS_TEST="$data/test$sfx" ALI_TRAIN="$dir/mono" ALI_DEV="$dir/mono_dev"
          ALI_TEST="$dir/mono_test" DATA_TRAIN="$data/train" DATA_DEV="$data/dev"
          DATA_TEST="$data/test" GRAPH_DIR="$dir/graph_phone"
          DECODING_SCRIPT_FOLDER="$ROOT/recipes/timit/local"
          SCORING_SCRIPT="$ROOT/recipes/timit/local/score.sh")
else
  e="$kaldi_egs"
  tokens=(FEATS_TRAIN="$e/data-fmllr-tri3/train" FEATS_DEV="$e/data-fmllr-tri3/dev"
          FEATS_TEST="$e/data-fmllr-tri3/test" ALI_TRAIN="$e/exp/tri3_ali"
          ALI_DEV="$e/exp/tri3_ali_dev" ALI_TEST="$e/exp/tri3_ali_test"
          DATA_TRAIN="$e/data/train" DATA_DEV="$e/data/dev" DATA_TEST="$e/data/test"
          GRAPH_DIR="$e/exp/tri3/graph" DECODING_SCRIPT_FOLDER="$decoding_scripts"
          SCORING_SCRIPT="$e/local/score.sh")
fi

cfg_stages "${CFG[$arch]}" "$dir/$arch" "$epochs" USE_CUDA="$use_cuda" "${tokens[@]}"
