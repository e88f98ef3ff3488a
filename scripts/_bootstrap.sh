# Sourced by scripts/run, scripts/livenode and scripts/test: create or update .venv
# idempotently and install the project into it.
#
#   source scripts/_bootstrap.sh runtime   # the runtime dependencies only
#   source scripts/_bootstrap.sh test      # plus the test extras (pytest, ruff, mypy, ...)
#   source scripts/_bootstrap.sh           # no argument: test (a developer's venv)
#
# The stamp file .venv/.livenode-installed records what was installed ("runtime" or
# "test"; an empty stamp from older versions of this script means "test"). The project
# is reinstalled when pyproject.toml changed since then, or when the test extras are
# asked for and only the runtime was installed. A venv with the test extras serves a
# runtime request as it is (the extras do not get in the way of running the node).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
LIVENODE_EXTRAS="${1-test}"
case "$LIVENODE_EXTRAS" in
    runtime) _spec="$ROOT" ;;
    test) _spec="$ROOT[test]" ;;
    *) echo "scripts/_bootstrap.sh: expected 'runtime' or 'test', got '$LIVENODE_EXTRAS'" >&2
       return 2 2>/dev/null || exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livenode needs Python >= 3.11")'
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.livenode-installed"
_installed=""
if [ -f "$STAMP" ]; then
    _installed="$(cat "$STAMP")"
    _installed="${_installed:-test}"
fi
if [ -z "$_installed" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] \
        || { [ "$LIVENODE_EXTRAS" = "test" ] && [ "$_installed" != "test" ]; }; then
    echo "installing livenode ($LIVENODE_EXTRAS dependencies) into $VENV ..." >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e "$_spec" >&2
    echo "$LIVENODE_EXTRAS" > "$STAMP"
fi
unset _spec _installed
export PATH="$VENV/bin:$PATH"
