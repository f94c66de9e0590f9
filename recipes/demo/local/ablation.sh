#!/usr/bin/env bash
# Headroom ablation on a prepared demo folder (stages 1-3 of run.sh done): trains one
# architecture with one knob changed per run and prints, per run, the test PER (phone
# graph), the last dev frame error, the epochs, the wall time and the load average.
#   bash recipes/demo/local/ablation.sh --dir exp/demo --arch v1 --runs "base ep24 mfcc"
# Runs (each changes one thing against `base`, the demo's default cfg, 8 epochs):
#   base     40-dim log-mel fbank + deltas + delta-deltas (120), per-speaker CMVN,
#            3 frames of look-ahead (480), 2 x 128, lr 0.002, 8 epochs
#   ep24     24 epochs (newbob halving as in every cfg)
#   ep16     16 epochs
#   mfcc     MFCC 13 + deltas (39 dims; the demo's input before 2026-12-01)
#   nodelta  the fbank without deltas (40 dims, the paper's input dimension)
#   w256     2 x 256 layers
#   ctx5     context window of 5 frames left and 5 right (spliced input)
#   right5   5 frames of right context only (look-ahead for a unidirectional net;
#            right0: none, the cfgs before 2026-12-01 evening)
#   lr1e-3   Adam lr 0.001 (all archs)          lr4e-3   Adam lr 0.004
# Knobs join with '+' (e.g. ep24+w256). Finished runs are skipped (their results line is kept); results: <dir>/ablation.tsv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
dir=exp/demo
arch=v1
runs="base ep24 mfcc w256 right0 lr1e-3 lr4e-3"
seed=1
help_message="Usage: bash recipes/demo/local/ablation.sh [--dir D] [--arch A] [--runs LIST] [--seed N]"
. "$ROOT/recipes/common/parse_options.sh"
. "$ROOT/recipes/common/log.sh"
. "$ROOT/recipes/demo/path.sh"
. "$ROOT/recipes/common/results.sh"
cd "$ROOT"
case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
data="$dir/corpus/data"
[ -f "$dir/.stage3.$(cat "$dir/corpus_size" 2>/dev/null)_tid.done" ] || {
  echo "$0: $dir has no prepared corpus; run: bash recipes/demo/run.sh --stop-stage 3" \
    "--dir $dir" >&2; exit 1; }
declare -A CFG=([lstm]=DEMO_LSTM [gru]=DEMO_GRU [trad]=DEMO_SNN_traditional \
                [v1]=DEMO_SNN_v1 [v2]=DEMO_SNN_v2)
declare -A LAY=([lstm]=lstm_lay [gru]=gru_lay [trad]=snn_lay [v1]=snn_lay [v2]=snn_lay)
[ -n "${CFG[$arch]:-}" ] || { echo "$0: unknown --arch $arch" >&2; exit 1; }
table="$dir/ablation.tsv"
[ -f "$table" ] || printf "arch\trun\tseed\tepochs\ttest_PER\tdev_frame_err\tseconds\tload_start\tload_end\n" > "$table"

for run in $runs; do
  exp="$dir/ablation/${arch}_${run}_seed$seed"
  if grep -q "^$arch	$run	$seed	" "$table"; then log "skip $arch $run (done)"; continue; fi
  epochs=8
  over=()
  sedexpr=""
  for part in ${run//+/ }; do
    case "$part" in
      base) ;;
      ep[0-9]*) epochs="${part#ep}" ;;
      mfcc) sedexpr="$sedexpr; s#/\\([a-z]*\\)_fbank/#/\\1/#g" ;;
      nodelta) sedexpr="$sedexpr; s# | add-deltas --delta-order=2 ark:- ark:- |# |#" ;;
      w[0-9]*) w="${part#w}"; over+=("--architecture1,${LAY[$arch]}=$w,$w") ;;
      ctx[0-9]*) c="${part#ctx}"; sedexpr="$sedexpr; s#cw_left=[0-9]*#cw_left=$c#; s#cw_right=[0-9]*#cw_right=$c#" ;;
      right[0-9]*) c="${part#right}"; sedexpr="$sedexpr; s#cw_right=[0-9]*#cw_right=$c#" ;;
      lr*) lr="${part#lr}"; over+=("--architecture1,arch_lr=$lr" "--architecture2,arch_lr=$lr") ;;
      *) echo "$0: unknown run $part" >&2; exit 1 ;;
    esac
  done
  sedexpr="${sedexpr#; }"
  rm -rf "$exp"; mkdir -p "$exp"
  python3 -m pytorch_kaldi_snn.runner.render "cfg/${CFG[$arch]}.cfg" "$exp/exp.cfg" \
    OUT_FOLDER="$exp" SEED="$seed" USE_CUDA=False N_EPOCHS="$epochs" DATA="$data" \
    ALI_TRAIN="$dir/mono" ALI_DEV="$dir/mono_dev" ALI_TEST="$dir/mono_test" \
    ALI_HELDOUT="$dir/mono_heldout" GRAPH="$dir/graph_phone"
  [ -z "$sedexpr" ] || sed -i "$sedexpr" "$exp/exp.cfg"
  load0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$SECONDS
  log "ablation $arch $run: $epochs epochs ${over[*]:-} -> $exp"
  # dev is forwarded too: test is scored at the decoding settings that are best on dev
  python3 run_exp.py "$exp/exp.cfg" "--data_use,forward_with=demo_test,demo_dev" \
    "${over[@]}" > "$exp/log.txt" 2>&1
  secs=$((SECONDS - t0))
  load1=$(cut -d' ' -f1 /proc/loadavg)
  per=$(per_of "$exp" demo_test)
  dev=$(grep -o 'valid=\S* loss=\S* err=\S*' "$exp/res.res" | tail -n 1 | sed 's/.*err=//')
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$arch" "$run" "$seed" "$epochs" \
    "$per" "$dev" "$secs" "$load0" "$load1" >> "$table"
  log "ablation $arch $run: PER $per %, dev frame err $dev, $secs s (load $load0 -> $load1)"
done
column -t -s $'\t' "$table"
