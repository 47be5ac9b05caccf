# Sourced by scripts/demo and scripts/test: make sure uv and the locked environment exist.
# Needs only python3 (>= 3.11) on PATH; installs uv into .tools/ when it is not on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if command -v uv >/dev/null 2>&1; then
  UV="$(command -v uv)"
else
  if [ ! -x .tools/bin/uv ]; then
    echo "installing uv into .tools/ ..." >&2
    "$PY" -m venv .tools
    .tools/bin/pip install --quiet "uv==0.13.9"
  fi
  UV="$ROOT/.tools/bin/uv"
fi
export UV_PYTHON="$PY"
"$UV" sync --frozen --quiet
export PATH="$ROOT/.venv/bin:$PATH"
# The dashboard bundle (web/ -> src/smc_agent/api/static/dist) is built, never committed.
DIST_INDEX="src/smc_agent/api/static/dist/index.html"
if [ -f web/package.json ] && command -v npm >/dev/null 2>&1; then
  if [ ! -f "$DIST_INDEX" ] || [ -n "$(find web -path web/node_modules -prune -o -type f -newer "$DIST_INDEX" -print -quit)" ]; then
    echo "building the dashboard (scripts/build-web) ..." >&2
    ./scripts/build-web >/dev/null || echo "warning: dashboard build failed; the API serves a page saying how to build it" >&2
  fi
fi
