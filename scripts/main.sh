#!/usr/bin/env bash
# The main job on the embedded default: set up .venv, generate the dataset if it is missing,
# train, evaluate on the test split, and write the run directory (printed at the end).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT/src"
if [ ! -f "$ROOT/data/digits/manifest.json" ]; then
  python3 -m digits.sequence_generator
fi
python3 -m model.icr digits "$@"
