# Sourced by scripts/test (after _bootstrap.sh): make sure the `quickfix` package (the
# real FIX engine the FIX adapter's end-to-end tests run as their peer) is installed in
# .venv. PyPI ships it as a source distribution only; building it compiles QuickFIX C++
# (about 6 minutes, about 2.8 GB peak memory), so the wheel is built once into
# .cache/wheels/ (gitignored) and installed from there afterwards:
#
#   no import in .venv, wheel cached  -> install the cached wheel (seconds)
#   no import in .venv, no wheel      -> build the wheel, cache it, install it
#   import works                      -> nothing
#
#   LIVENODE_QUICKFIX_VERSION  the version to build (default below)
#   LIVENODE_WHEEL_CACHE       the cache directory (default $ROOT/.cache/wheels)
set -euo pipefail
: "${ROOT:?source scripts/_bootstrap.sh first}"
_qf_version="${LIVENODE_QUICKFIX_VERSION:-1.16.0}"
_qf_cache="${LIVENODE_WHEEL_CACHE:-$ROOT/.cache/wheels}"
if ! "$ROOT/.venv/bin/python" -c 'import quickfix' >/dev/null 2>&1; then
    mkdir -p "$_qf_cache"
    _qf_wheel="$(ls "$_qf_cache"/quickfix-"$_qf_version"-*.whl 2>/dev/null | head -n 1 || true)"
    if [ -z "$_qf_wheel" ]; then
        echo "scripts/_fix_wheel.sh: building the quickfix $_qf_version wheel once into" \
             "$_qf_cache (about 6 minutes, about 2.8 GB memory)" >&2
        _qf_start=$(date +%s)
        MAKEFLAGS="${MAKEFLAGS:--j1}" "$ROOT/.venv/bin/python" -m pip wheel --quiet \
            --no-deps --no-binary quickfix --wheel-dir "$_qf_cache" "quickfix==$_qf_version" >&2
        echo "scripts/_fix_wheel.sh: quickfix wheel built in $(( $(date +%s) - _qf_start ))s" >&2
        _qf_wheel="$(ls "$_qf_cache"/quickfix-"$_qf_version"-*.whl | head -n 1)"
    fi
    "$ROOT/.venv/bin/python" -m pip install --quiet --no-deps "$_qf_wheel" >&2
    unset _qf_wheel _qf_start
fi
unset _qf_version _qf_cache
