#!/usr/bin/env bash
# The main job on the embedded default: set up .venv, generate the dataset if missing,
# train, evaluate, and write the run directory.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT/src"
if [ ! -f "$ROOT/data/digits/manifest.json" ]; then
  python -m digits.sequence_generator "$@"
fi
