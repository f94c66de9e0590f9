#!/usr/bin/env bash
# Benchmark mode of the demo (bash recipes/demo/run.sh --mode benchmark, or this file):
# Table 1 under the paper's protocol as far as a 2-core machine allows.
# - 5 architectures (lstm gru trad v1 v2) x 3 seeds, every one with the same cfg
#   family (cfg/DEMO_*.cfg: same features, lr, batch, dropout, curriculum), the same
#   epochs and the same decoding grids: the same tuning effort for all.
# - 24 epochs with newbob (every DEMO cfg: lr halved when the dev frame error improves
#   by less than 0.1 %), the paper's schedule; the final epoch's model is decoded.
# - 2 x 128 layers: the widest that comes near 2 hours on 2 cores. At 24 epochs a
#   2 x 128 LSTM run took 25-28 minutes of one core (2026-12-01, docs/benchmark.md),
#   a GRU run about 25, an SNN run 6-7; an LSTM's cost grows as 4H(F + H), so 2 x 256
#   is about 3.5 x that and 2 x 550 about 17 x.
# - Runs go in --jobs parallel queues (one per architecture, longest first), each run
#   with one thread; finished runs are skipped (resumable); a progress line per run;
#   total time at the end. Reports: <dir>/results/report.md (pytorch_kaldi_snn.reports).
# Each run is stages 4-5 of recipes/demo/run.sh (train + forward + phone decoding, word
# decoding), so the benchmark decodes exactly as the main demo does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
size=small
dir=exp/demo_benchmark
seeds=3
epochs=24
archs="lstm gru v2 v1 trad"
jobs=2
nj=1
use_cuda=False
sweep=""
widths=1x
sweep_seeds=1
sweep_epochs=""
mode=benchmark
benchmark=true
help_message="Usage: bash recipes/demo/run.sh --mode benchmark [options]
   (or bash recipes/demo/local/benchmark.sh [options])
  --size S          demo corpus size (default small)
  --dir D           working folder (default exp/demo_benchmark; one per size/epochs)
  --seeds N         seeds per architecture (default 3)
  --epochs N        epochs per run, newbob schedule (default 24)
  --archs LIST      architectures, in queue order (default 'lstm gru v2 v1 trad')
  --jobs N          runs in parallel, one thread each (default 2 = the cores)
  --nj N            decoding jobs inside a run (default 1: the queues use the cores)
  --use-cuda B      True to train on the GPU (default False)
  --sweep LIST      also the Fig. 5 sweep of SNN v2: spike bits, 0 = full precision
                    (e.g. 1,2,3,4,5,6,0; threshold k = 0), PER only (default: none)
  --widths LIST     widths of the sweep, multiples of 128 (default 1x; Fig. 5b:
                    1x,2x,3x)
  --sweep-seeds N   seeds per sweep point (default 1)
  --sweep-epochs N  epochs per sweep run (default: --epochs)
Time (measured 2026-12-01 on the 2-core machine, docs/benchmark.md): 1 h 37 min
for the 15 Table-1 runs; a sweep point at 8 epochs and 1x width trains in about 2.5
minutes, and decoding a model that has not learned (1-2 bits) takes longer than
training it."

. "$ROOT/recipes/common/parse_options.sh"
. "$ROOT/recipes/common/log.sh"
. "$ROOT/recipes/demo/path.sh"
cd "$ROOT"
case "$dir" in /*) ;; *) dir="$ROOT/$dir" ;; esac
for v in seeds epochs jobs nj sweep_seeds; do
  case "${!v}" in ''|*[!0-9]*|0)
    echo "$0: --${v//_/-} must be a positive integer (got ${!v})" >&2; exit 1 ;; esac
done
sweep_epochs="${sweep_epochs:-$epochs}"
for a in $archs; do
  case "$a" in lstm|gru|trad|v1|v2) ;; *)
    echo "$0: --archs: $a is not lstm, gru, trad, v1 or v2" >&2; exit 1 ;; esac
done
sweep_bits="${sweep//,/ }"
for b in $sweep_bits; do
  case "$b" in ''|*[!0-9]*) echo "$0: --sweep: $b is not a bit width" >&2; exit 1 ;; esac
done
for w in ${widths//,/ }; do
  case "$w" in [1-9]x|[1-9].5x) ;; *)
    echo "$0: --widths: $w is not like 1x, 1.5x, 2x, 3x" >&2; exit 1 ;; esac
done
mkdir -p "$dir"
settings="size=$size epochs=$epochs"
if [ -f "$dir/benchmark_settings" ] && [ "$(cat "$dir/benchmark_settings")" != "$settings" ]; then
  echo "$0: $dir was benchmarked with $(cat "$dir/benchmark_settings"), not $settings;" \
    "use another --dir" >&2
  exit 1
fi
echo "$settings" > "$dir/benchmark_settings"
. "$ROOT/recipes/common/stages.sh"  # render_cfg; it also starts the clock
. "$ROOT/recipes/common/results.sh"  # per_of
SECONDS=0
log "benchmark: $size corpus, $epochs epochs, archs '$archs' x $seeds seeds, $jobs jobs -> $dir"
bash "$ROOT/recipes/demo/run.sh" --stage 0 --stop-stage 3 --size "$size" --dir "$dir" \
  --nj "$jobs"

total=0
for a in $archs; do total=$((total + seeds)); done
progress() {  # progress NAME SECONDS: one line per finished run
  local name=$1 secs=$2 exp="$dir/$1" done per wer
  done=$(find "$dir" -maxdepth 1 -name '.stage5.*_seed*.done' | wc -l)
  per=$(per_of "$exp" demo_test)
  wer=$(awk '{print $2}' "$exp/decode_word/dev_selected_wer" 2>/dev/null || true)
  hper=$(per_of "$exp" demo_heldout)
  hwer=$(awk '{print $2}' "$exp/decode_word_heldout/dev_selected_wer" 2>/dev/null || true)
  log "[$done/$total] $name: test PER ${per:-?} %, WER ${wer:-?} %;" \
    "heldout PER ${hper:-?} %, WER ${hwer:-?} %; ${secs} s; benchmark elapsed $SECONDS s"
}

queue() {  # queue ARCH: its seeds one after the other (earlier seeds are done then)
  local a=$1 s t0
  for s in $(seq 1 "$seeds"); do
    if [ -f "$dir/.stage5.${a}_seed${s}_${size}_fbho.done" ]; then
      log "skip ${a}_seed$s (finished earlier)"; continue
    fi
    t0=$SECONDS
    bash "$ROOT/recipes/demo/run.sh" --stage 4 --stop-stage 5 --size "$size" \
      --dir "$dir" --arch "$a" --seeds "$s" --epochs "$epochs" --nj "$nj" \
      --use-cuda "$use_cuda" > "$dir/benchmark_${a}_seed$s.log" 2>&1 || {
        log "${a}_seed$s FAILED, see $dir/benchmark_${a}_seed$s.log"; return 1; }
    progress "${a}_seed$s" $((SECONDS - t0))
  done
}

sweep_run() {  # sweep_run BITS WIDTH SEED: PER of SNN v2 at that precision and width
  local b=$1 w=$2 s=$3 tag="" n
  case "$w" in *.5x) n=$((64 * (2 * ${w%.5x} + 1))) ;; *) n=$((128 * ${w%x})) ;; esac
  [ "$w" = 1x ] || tag="_w${w/./p}"
  local name="v2_b${b}${tag}_seed$s" exp="$dir/v2_b${b}${tag}_seed$s" t0=$SECONDS
  [ -f "$dir/.sweep.$name.done" ] && { log "skip $name (finished earlier)"; return 0; }
  render_cfg DEMO_SNN_v2 "$exp" OUT_FOLDER="$exp" SEED="$s" USE_CUDA="$use_cuda" \
    N_EPOCHS="$sweep_epochs" DATA="$dir/corpus/data" ALI_TRAIN="$dir/mono" \
    ALI_DEV="$dir/mono_dev" ALI_TEST="$dir/mono_test" ALI_HELDOUT="$dir/mono_heldout" \
    GRAPH="$dir/graph_phone"
  python3 run_exp.py "$exp/exp.cfg" "--data_use,forward_with=demo_test,demo_dev" \
    "--architecture1,snn_n_bits=$b" \
    "--architecture1,snn_threshold_k=0" "--architecture1,snn_lay=$n,$n" \
    > "$exp/log.txt" 2>&1 || { log "$name FAILED, see $exp/log.txt"; return 1; }
  touch "$dir/.sweep.$name.done"
  log "sweep $name (2 x $n): PER $(per_of "$exp" demo_test) %," \
    "$((SECONDS - t0)) s; benchmark elapsed $SECONDS s"
}

sweep_queue() {  # sweep_queue K: every jobs-th sweep point, starting at the K-th; a
  # failed point (a diverged run) is logged and the queue goes on; returns 1 if any failed
  local k=0 b w s bad=0
  for w in ${widths//,/ }; do for b in $sweep_bits; do
    for s in $(seq 1 "$sweep_seeds"); do
      if [ $((k % jobs)) -eq "$1" ]; then sweep_run "$b" "$w" "$s" || bad=1; fi
      k=$((k + 1))
    done
  done; done
  return "$bad"
}

failed=0
running=0
for a in $archs; do
  if [ "$running" -ge "$jobs" ]; then wait -n || failed=1; running=$((running - 1)); fi
  queue "$a" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
log "Table-1 runs finished at $SECONDS s"
if [ -n "$sweep_bits" ]; then
  for k in $(seq 0 $((jobs - 1))); do sweep_queue "$k" & done
  for k in $(seq 0 $((jobs - 1))); do wait -n || failed=1; done
  log "sweep finished at $SECONDS s"
fi
python3 -m pytorch_kaldi_snn.reports "$dir" --archs $archs --seeds "$seeds" \
  --title "Demo benchmark ($size corpus, $epochs epochs, 2 x 128)" \
  ${sweep:+--sweep "$sweep" --widths "$widths" --sweep-seeds "$sweep_seeds"} || failed=1
log "benchmark finished in $SECONDS s; report: $dir/results/report.md"
exit "$failed"
