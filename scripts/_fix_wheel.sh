# Sourced by scripts/test and scripts/fix-sandbox (after _bootstrap.sh): make sure the
# `quickfix` package (the real FIX engine the FIX adapter's end-to-end tests run as
# their peer) is installed in .venv. PyPI ships it as a source distribution only;
# building it compiles QuickFIX C++: about 6 minutes on an idle 2-core machine, 20 to
# 25 minutes on a loaded one, about 2.8 GB peak memory. So the wheel is built once per
# user, interpreter and machine type into a cache outside the clone (every clone and
# worktree of this user reuses it) and installed from there:
#
#   import works in .venv            -> nothing
#   wheel in the cache               -> install it (seconds)
#   no wheel                         -> build it (a progress line a minute), cache it,
#                                       install it; two clones building at once take
#                                       turns (a lock), the second one installs the
#                                       first one's wheel
#
#   LIVENODE_QUICKFIX_VERSION  the version to build (default below)
#   LIVENODE_WHEEL_CACHE       the cache directory
#                              (default ${XDG_CACHE_HOME:-~/.cache}/livenode/wheels)
set -euo pipefail
: "${ROOT:?source scripts/_bootstrap.sh first}"
_qf_version="${LIVENODE_QUICKFIX_VERSION:-1.16.0}"
_qf_python="$("$ROOT/.venv/bin/python" -c \
    'import platform, sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-{platform.machine()}")')"
_qf_cache="${LIVENODE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/livenode/wheels}/quickfix-$_qf_version-$_qf_python"

_qf_find_wheel() {
    ls "$_qf_cache"/quickfix-"$_qf_version"-*.whl 2>/dev/null | head -n 1 || true
}

_qf_build_wheel() {
    # Built into a private directory, then moved in: a build cut short leaves no
    # half-written wheel in the cache.
    local staging start pid elapsed
    staging="$(mktemp -d "$_qf_cache/.build-XXXXXX")"
    echo "scripts/_fix_wheel.sh: building the quickfix $_qf_version wheel once into" \
         "$_qf_cache (about 6 minutes on an idle 2-core machine, 20-25 on a loaded one," \
         "about 2.8 GB memory)" >&2
    start=$(date +%s)
    MAKEFLAGS="${MAKEFLAGS:--j1}" "$ROOT/.venv/bin/python" -m pip wheel --quiet \
        --no-deps --no-binary quickfix --wheel-dir "$staging" "quickfix==$_qf_version" >&2 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        # One line a minute, so a long build is visibly alive.
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$pid" 2>/dev/null; then
            elapsed=$(( $(date +%s) - start ))
            echo "scripts/_fix_wheel.sh: still compiling QuickFIX ($(( elapsed / 60 )) min" \
                 "so far, load $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'))" >&2
        fi
    done
    if ! wait "$pid"; then
        rm -rf "$staging"
        echo "scripts/_fix_wheel.sh: building the quickfix wheel failed (see above)" >&2
        return 1
    fi
    mv "$staging"/quickfix-"$_qf_version"-*.whl "$_qf_cache"/
    rm -rf "$staging"
    echo "scripts/_fix_wheel.sh: quickfix wheel built in $(( $(date +%s) - start ))s" >&2
}

if ! "$ROOT/.venv/bin/python" -c 'import quickfix' >/dev/null 2>&1; then
    mkdir -p "$_qf_cache"
    _qf_wheel="$(_qf_find_wheel)"
    if [ -z "$_qf_wheel" ]; then
        exec {_qf_lock}>"$_qf_cache/.lock"
        if ! flock -n "$_qf_lock"; then
            echo "scripts/_fix_wheel.sh: another clone is building the quickfix wheel;" \
                 "waiting for it" >&2
            flock "$_qf_lock"
        fi
        _qf_wheel="$(_qf_find_wheel)"
        if [ -z "$_qf_wheel" ]; then
            _qf_build_wheel
            _qf_wheel="$(_qf_find_wheel)"
        fi
        exec {_qf_lock}>&-
    fi
    "$ROOT/.venv/bin/python" -m pip install --quiet --no-deps "$_qf_wheel" >&2
    unset _qf_wheel _qf_lock
fi
unset _qf_version _qf_cache _qf_python
unset -f _qf_find_wheel _qf_build_wheel
