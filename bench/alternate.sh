#!/bin/bash
# Alternate bench/bench_layers.py between another checkout of the package and this one,
# run by run, so that the host's drift hits both sides alike (this host's absolute
# times move by 10-30 % within minutes; docs/speed.md).
#
#   bash bench/alternate.sh OTHER_CHECKOUT [--rounds N] -- BENCH_LAYERS_ARGS...
#
# OTHER_CHECKOUT: a directory holding another version's pytorch_kaldi_snn/ (e.g. made
# with `git worktree add /tmp/old <commit>`); it is put first on PYTHONPATH for the
# "old" side. Both sides run this checkout's bench/bench_layers.py. Prints the model
# rows and the torch.mm line of each run, prefixed "old rK:" / "new rK:".
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
OTHER=$1; shift
ROUNDS=3
if [ "${1:-}" = "--rounds" ]; then ROUNDS=$2; shift 2; fi
if [ "${1:-}" = "--" ]; then shift; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -d "$OTHER/pytorch_kaldi_snn" ] || { echo "alternate.sh: no pytorch_kaldi_snn/ in $OTHER" >&2; exit 2; }
for r in $(seq 1 "$ROUNDS"); do
    for side in old new; do
        if [ $side = old ]; then path=$OTHER; else path=$HERE; fi
        echo "# $side r$r: $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg)" >&2
        PYTHONPATH=$path python3 "$HERE/bench/bench_layers.py" "$@" 2>&1 \
            | grep -E "^\| SNN|^\| torch.nn|torch.mm|threads=" | sed "s/^/$side r$r: /"
    done
done
