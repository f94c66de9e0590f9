#!/usr/bin/env bash
# Prints the test (and heldout) PER (phone graph) and WER (word graph) lines at the dev-chosen LM weight
# and insertion penalty of every finished demo run,
# like the RESULTS files of Kaldi's egs. Usage: local/show_results.sh [DIR]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../common/results.sh"
dir="${1:-exp/demo}"
[ -d "$dir" ] || { echo "$0: $dir: no such folder" >&2; exit 1; }
found=0
for exp in "$dir"/*_seed*; do
  [ -f "$exp/res.res" ] || continue
  found=1
  echo "$(basename "$exp")"
  for set in test heldout; do
    per=$(per_line "$exp" "demo_$set")
    w="$exp/decode_word"; [ "$set" = test ] || w="${w}_$set"
    wer=$(cat "$w/dev_selected_wer" 2>/dev/null || true)
    [ "$set" = test ] || [ -n "$per$wer" ] || continue  # runs without a heldout set
    echo "  $set PER: ${per:-not decoded yet}"
    echo "  $set WER: ${wer:-not decoded yet}"
  done
done
[ "$found" = 1 ] || { echo "$0: no finished runs under $dir" >&2; exit 1; }
