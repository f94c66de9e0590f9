#!/usr/bin/env bash
# The demo: synthesised corpus -> monophone alignments -> phone/word graphs ->
# SNN (or LSTM/GRU) training with our runner -> forward -> decoding -> PER, WER and
# the Table-1 row. Runs on 2 CPU cores in a few minutes; installs what it needs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stage=0
stop_stage=100
size=small
arch=v2
all=false
seeds=1
epochs=8
nj=2
dir=exp/demo
use_cuda=False
sweep=""
word_lmwts=4,6,8,10,12
word_wips=0,0.5
word_beam=9
word_lattice_beam=4
mode=default
benchmark=false
help_message="Usage: bash recipes/demo/run.sh [options]
  --stage N        first stage to run (default 0)
  --stop-stage N   last stage to run (default 100)
                   0 install, 1 corpus, 2 alignments, 3 graphs,
                   4 train + forward + phone decoding (PER), 5 word decoding (WER),
                   6 report
  --size S         demo corpus size: tiny | small | large (default small)
  --arch A         lstm | gru | trad | v1 | v2 (default v2)
  --all [B]        true (or the bare flag): train all five architectures
                   (default false)
  --seeds N        with --all: seeds per architecture (default 1)
  --epochs N       training epochs (default 8)
  --nj N           parallel jobs for alignment and decoding (default 2)
  --dir D          working folder (default exp/demo, relative to the repository)
  --use-cuda B     True to train on the GPU (default False)
  --word-lmwts L   first LM weights of word decoding on dev (default 4,6,8,10,12);
                   the grid widens until the best is inside it, and test is scored
                   at the dev-best setting (decode_word/dev_selected_wer)
  --word-wips L    first word insertion penalties (default 0,0.5)
  --word-beam B    decoding beam of word decoding (default 9: on the v2 network's
                   small test outputs 27 CPU s, 19.63% WER; beam 13 is 4x slower)
  --word-lattice-beam B  its lattice beam (default 4)
  --sweep LIST     precision sweep (Fig. 5a): also train SNN v2 with these spike
                   bit widths, comma separated, 0 = full precision (e.g. 1,2,4,6,0);
                   threshold k = 0 at every width, as in cfg/sweeps/
  --mode M         default (this 10-minute demo) or benchmark: Table 1 under the
                   paper's protocol, 5 archs x 3 seeds x 24 epochs with newbob,
                   1 h 37 min on 2 cores (recipes/demo/local/benchmark.sh --help)
  --benchmark B    true: the same as --mode benchmark
Results: <dir>/results/summary.md and .csv; each run's res.res, table1.md and
decode folders under <dir>/<arch>_seed<N>/."

# Benchmark mode takes its own options (recipes/demo/local/benchmark.sh --help).
case " $* " in
  *" --mode benchmark "*|*" --mode=benchmark "*|*" --benchmark true "*|\
  *" --benchmark=true "*|*" --benchmark --"*|*" --benchmark ")
    exec bash "$ROOT/recipes/demo/local/benchmark.sh" "$@" ;;
esac
. "$ROOT/recipes/common/parse_options.sh"
case "$mode" in default|benchmark) ;; *)
  echo "$0: --mode must be default or benchmark (got $mode)" >&2; exit 1 ;; esac
. "$ROOT/recipes/common/log.sh"
. "$ROOT/recipes/demo/path.sh"
. "$ROOT/recipes/demo/cmd.sh"
cd "$ROOT"
case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
case "$arch" in lstm|gru|trad|v1|v2) ;; *)
  echo "$0: --arch must be lstm, gru, trad, v1 or v2 (got $arch)" >&2; exit 1 ;; esac
case "$size" in tiny|small|large) ;; *)
  echo "$0: --size must be tiny, small or large (got $size)" >&2; exit 1 ;; esac
for v in stage stop_stage seeds epochs nj; do
  case "${!v}" in ''|*[!0-9]*)
    echo "$0: --${v//_/-} must be a non-negative integer (got ${!v})" >&2; exit 1 ;; esac
done
for v in word_lmwts word_wips word_beam word_lattice_beam; do
  case "${!v}" in ''|*[!0-9.,]*)
    echo "$0: --${v//_/-} must list numbers like 6,10 (got ${!v})" >&2; exit 1 ;; esac
done
case "$all" in true|false) ;; *)
  echo "$0: --all must be true or false (got $all)" >&2; exit 1 ;; esac
case "$sweep" in ''|[0-9]*) ;; *)
  echo "$0: --sweep must list bit widths like 1,2,4,6,0 (got $sweep)" >&2; exit 1 ;; esac
sweep_bits="${sweep//,/ }"
for b in $sweep_bits; do
  case "$b" in *[!0-9]*)
    echo "$0: --sweep: $b is not a bit width (0-16)" >&2; exit 1 ;; esac
  if [ "$b" -gt 16 ]; then echo "$0: --sweep: $b is not a bit width (0-16)" >&2; exit 1; fi
done

corpus="$dir/corpus"
data="$corpus/data"
# One corpus size per working folder: experiments resume from their checkpoints, which
# must never come from another corpus.
if [ -f "$dir/corpus_size" ] && [ "$(cat "$dir/corpus_size")" != "$size" ]; then
  echo "$0: $dir holds the $(cat "$dir/corpus_size") corpus; use another --dir for" \
    "--size $size (e.g. --dir exp/demo_$size)" >&2
  exit 1
fi
mkdir -p "$dir"
. "$ROOT/recipes/common/stages.sh"
stage_start=0

if run_stage 0; then
  begin 0 "install (torch==2.13.0 CPU if missing, this package)"
  bash "$ROOT/tools/setup_env.sh"
  end 0 setup
fi

if run_stage 1 && ! done_before 1 "$size"; then
  begin 1 "synthesise the $size demo corpus into $corpus"
  pytorch-kaldi-snn make-corpus --size "$size" --out "$corpus" --nj "$nj"
  echo "$size" > "$dir/corpus_size"
  end 1 "$size"
fi

# Stage tags carry the alignment format: folders of the removed numpy aligner are redone.
if run_stage 2 && ! done_before 2 "${size}_tid"; then
  begin 2 "monophone GMM-HMM training and alignment (kaldi-hmm-gmm)"
  align_sets "$data" "$dir" "$nj" train dev test
  end 2 "${size}_tid"
fi
# The heldout voices (in no other set), aligned with the same GMM; folders aligned
# before the heldout set existed get just this step.
if run_stage 2 && ! done_before 2 "${size}_heldout"; then
  begin 2 "align the heldout voices with the monophone GMM"
  pytorch-kaldi-snn align "$data/heldout" "$data/lang" "$dir/mono_heldout" \
    --model-dir "$dir/mono" --nj "$nj"
  end 2 "${size}_heldout"
fi

if run_stage 3 && ! done_before 3 "${size}_tid"; then
  begin 3 "phone-bigram and word-bigram HCLG graphs"
  pytorch-kaldi-snn mkgraph "$data/lang" "$dir/mono" "$dir/graph_phone" --kind phone \
    --train-text "$data/train/text_phones"
  pytorch-kaldi-snn mkgraph "$data/lang" "$dir/mono" "$dir/graph_word" --kind word \
    --train-text "$data/train/text"
  end 3 "${size}_tid"
fi

declare -A CFG=([lstm]=DEMO_LSTM [gru]=DEMO_GRU [trad]=DEMO_SNN_traditional \
                [v1]=DEMO_SNN_v1 [v2]=DEMO_SNN_v2)
if [ "$all" = true ]; then archs="lstm gru trad v1 v2"; else archs="$arch"; fi

# train_and_decode NAME ARCH SEED [run_exp overrides...]: stages 4 and 5 of one run.
train_and_decode() {
  local name=$1 a=$2 seed=$3; shift 3
  local exp="$dir/$name"
  # stage tags name the cfg generation (fbank input, heldout set) of the run
  if run_stage 4 && ! done_before 4 "${name}_${size}_fbho"; then
    begin 4 "train $name ($epochs epochs), forward, phone decoding -> $exp"
    render_cfg "${CFG[$a]}" "$exp" OUT_FOLDER="$exp" SEED="$seed" \
      USE_CUDA="$use_cuda" N_EPOCHS="$epochs" DATA="$data" ALI_TRAIN="$dir/mono" \
      ALI_DEV="$dir/mono_dev" ALI_TEST="$dir/mono_test" \
      ALI_HELDOUT="$dir/mono_heldout" GRAPH="$dir/graph_phone"
    # dev is forwarded too: its best decoding settings are applied to test and heldout
    python3 run_exp.py "$exp/exp.cfg" \
      "--data_use,forward_with=demo_test,demo_dev,demo_heldout" "$@"
    end 4 "${name}_${size}_fbho"
  fi
  if run_stage 5 && ! done_before 5 "${name}_${size}_fbho"; then
    begin 5 "word decoding of $name (settings chosen on dev)"
    pytorch-kaldi-snn decode "$dir/graph_word" "$exp/decode_word_dev" \
      "$exp"/exp_files/forward_demo_dev_ep*_ck*_out_dnn2_to_decode.ark \
      --data-dir "$data/dev" --lmwts "$word_lmwts" --wips "$word_wips" --nj "$nj" \
      --beam "$word_beam" --lattice-beam "$word_lattice_beam"
    pytorch-kaldi-snn decode "$dir/graph_word" "$exp/decode_word" \
      "$exp"/exp_files/forward_demo_test_ep*_ck*_out_dnn2_to_decode.ark \
      --data-dir "$data/test" --lmwts "$word_lmwts" --wips "$word_wips" --nj "$nj" \
      --beam "$word_beam" --lattice-beam "$word_lattice_beam" \
      --select-from "$exp/decode_word_dev"
    pytorch-kaldi-snn decode "$dir/graph_word" "$exp/decode_word_heldout" \
      "$exp"/exp_files/forward_demo_heldout_ep*_ck*_out_dnn2_to_decode.ark \
      --data-dir "$data/heldout" --lmwts "$word_lmwts" --wips "$word_wips" --nj "$nj" \
      --beam "$word_beam" --lattice-beam "$word_lattice_beam" \
      --select-from "$exp/decode_word_dev"
    end 5 "${name}_${size}_fbho"
  fi
}

for a in $archs; do
  for seed in $(seq 1 "$seeds"); do
    train_and_decode "${a}_seed${seed}" "$a" "$seed"
  done
done
for b in $sweep_bits; do
  for seed in $(seq 1 "$seeds"); do
    # As cfg/sweeps/: the threshold is 0 at every precision, so only the bits vary.
    train_and_decode "v2_b${b}_seed${seed}" v2 "$seed" "--architecture1,snn_n_bits=$b" \
      "--architecture1,snn_threshold_k=0"
  done
done

if run_stage 6; then
  begin 6 "report"
  python3 -m pytorch_kaldi_snn.reports "$dir" --archs $archs --seeds "$seeds" \
    ${sweep:+--sweep "$sweep"}
  end 6 report
fi
log "finished in $SECONDS s; results in $dir/results/ (bash recipes/demo/local/show_results.sh $dir lists every run)"
