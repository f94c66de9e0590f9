#!/usr/bin/env bash
# Installs everything the package needs into the current Python, idempotently.
# torch goes first and pinned: an unpinned torch pulls a multi-GB CUDA build, while
# torch==2.13.0 is the CPU wheel our machines carry (docs/kaldi-stack.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install --quiet "torch==2.13.0"
fi
if ! "$PY" -c "import pytorch_kaldi_snn, kaldi_hmm_gmm, kaldiio, pytest, onnx, onnxruntime" >/dev/null 2>&1 \
   || [ "${FORCE_REINSTALL:-0}" = 1 ]; then
  "$PY" -m pip install --quiet -e "$ROOT[test]"
fi
