# Sourced by main.sh and test.sh: create or reuse .venv and install what the project needs.
# Usage: . scripts/setup.sh [requirements file]   (default requirements.txt)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="${1:-requirements.txt}"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the requirement files change: a stamp holds their checksum.
stamp="$VENV/.installed-$(basename "$REQ")"
want="$(cat "$ROOT"/requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing $REQ into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/$REQ"
  echo "$want" > "$stamp"
fi
# Graphviz renders model_graph.png; without it the trainer writes model_graph.dot instead.
if ! command -v dot >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing graphviz (for model_graph.png)" >&2
  (apt-get install -y -qq graphviz >/dev/null 2>&1 \
    || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq graphviz >/dev/null 2>&1)) \
    || echo "setup: graphviz could not be installed; model graphs will be .dot files" >&2
fi
# Debian's Chromium and ChromeDriver for the browser test (tests/test_browser.py), with the
# test requirements only. Under CI that test fails rather than skips without them.
if [ "$(basename "$REQ")" = requirements-dev.txt ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null \
    && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  echo "setup: installing chromium and chromium-driver (for tests/test_browser.py)" >&2
  (export DEBIAN_FRONTEND=noninteractive
   apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
    || (apt-get update -qq >/dev/null 2>&1 \
        && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1)) \
    || echo "setup: chromium could not be installed; tests/test_browser.py will skip" \
            "(and fail under CI)" >&2
fi
export PATH="$VENV/bin:$PATH"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
