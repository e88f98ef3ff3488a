# Sourced by scripts/run and scripts/test: create or update .venv idempotently
# and install the project with its test extras. Reinstalls only when
# pyproject.toml changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livenode needs Python >= 3.11")'
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.livenode-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]" >&2
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
