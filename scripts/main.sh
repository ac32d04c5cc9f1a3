#!/usr/bin/env bash
# The main job on the embedded default: set up .venv, generate the dataset if it is missing,
# train, evaluate on the test split, and write the run directory (printed at the end).
# Training gets 540 seconds, validation included (--time-budget: the first epoch is timed and
# the run trains the epochs that fit, at most 20), so the whole job, set-up included, stays
# within 15 minutes on a slow 2-core CPU; a fast one trains all 20. Later arguments win.
set -euo pipefail
# Named explicitly: a sourced script without arguments would see this one's (the icr flags).
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh" requirements.txt
cd "$ROOT/src"
if [ ! -f "$ROOT/data/digits/manifest.json" ]; then
  python3 -m digits.sequence_generator
fi
python3 -m model.icr digits --time-budget 540 "$@"
