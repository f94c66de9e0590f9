#!/usr/bin/env bash
# The test command of README.md: installs what is missing, then runs the whole suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "${PYTHON:-python3}" -m pytest -q "$@"
