#!/usr/bin/env bash
# Prints the test PER (phone graph) and WER (word graph) lines at the dev-chosen LM weight
# and insertion penalty of every finished demo run,
# like the RESULTS files of Kaldi's egs. Usage: local/show_results.sh [DIR]
set -euo pipefail
dir="${1:-exp/demo}"
[ -d "$dir" ] || { echo "$0: $dir: no such folder" >&2; exit 1; }
found=0
for exp in "$dir"/*_seed*; do
  [ -f "$exp/res.res" ] || continue
  found=1
  per=$(grep '^%WER' "$exp/res.res" | tail -n 1 || true)
  wer=$(cat "$exp/decode_word/dev_selected_wer" 2>/dev/null || true)
  echo "$(basename "$exp")"
  echo "  PER: ${per:-not decoded yet}"
  echo "  WER: ${wer:-not decoded yet}"
done
[ "$found" = 1 ] || { echo "$0: no finished runs under $dir" >&2; exit 1; }
