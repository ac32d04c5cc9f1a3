#!/usr/bin/env bash
# The test command: set up .venv with the dev tools, lint, run the test suite.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh" requirements-dev.txt
cd "$ROOT"
ruff check src tests bench
python -m pytest -q "$@"
