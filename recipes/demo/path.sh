# Sourced by run.sh (Kaldi's path.sh): the repository on PYTHONPATH and, when the user has
# a compiled Kaldi (KALDI_ROOT), its tools on PATH. The demo itself needs no Kaldi.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# One thread per process: on a shared 2-core machine more threads only add contention.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ -n "${KALDI_ROOT:-}" ] && [ -d "$KALDI_ROOT/src" ]; then
  export PATH="$KALDI_ROOT/src/bin:$KALDI_ROOT/src/featbin:$KALDI_ROOT/src/latbin:$PATH"
fi
