#!/usr/bin/env bash
# Scoring on the pip-only route: WER of each decode folder with the Kaldi stack
# (hypotheses against the data dir's text). Usage: score.sh DATA_DIR GRAPH DECODE_DIR
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 DATA_DIR GRAPH_DIR DECODE_DIR" >&2; exit 1; }
exec pytorch-kaldi-snn score "$3" "$1"
