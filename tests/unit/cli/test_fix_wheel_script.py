"""scripts/_fix_wheel.sh: builds the quickfix wheel once per user into a cache outside
the clone (keyed by version, interpreter and machine), installs it into .venv when the
import fails, and never rebuilds while the wheel is cached, whichever clone built it.

Runs the script for real (bash) on a copy of scripts/; the venv's python is a stand-in
that logs its calls, fails ``import quickfix`` until "installed", and makes a fake wheel
for ``pip wheel``: nothing is downloaded or compiled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PYTHON = r"""#!/bin/sh
case "$*" in
  *platform*) echo "cp311-x86_64"; exit 0 ;;
esac
echo "python $*" >> "$STUB_LOG"
case "$*" in
  "-c import quickfix") [ -f "$STUB_DIR/installed" ] && exit 0 || exit 1 ;;
  *"pip wheel"*)
    dir=$(echo "$*" | sed -n 's/.*--wheel-dir \([^ ]*\).*/\1/p')
    mkdir -p "$dir" && touch "$dir/quickfix-1.16.0-cp311-cp311-linux_x86_64.whl" ;;
  *"pip install"*) touch "$STUB_DIR/installed" ;;
esac
exit 0
"""


def _clone(tmp_path: Path, name: str = "clone") -> Path:
    root = tmp_path / name
    shutil.copytree(ROOT / "scripts", root / "scripts")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(PYTHON)
    (bin_dir / "python").chmod(0o755)
    return root


def _source(root: Path) -> list[str]:
    log = root / "stub.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "STUB_LOG": str(log), "STUB_DIR": str(root),
           "XDG_CACHE_HOME": str(root.parent / "user-cache")}
    env.pop("LIVENODE_WHEEL_CACHE", None)
    result = subprocess.run(
        ["bash", "-c", f'ROOT="{root}"; source scripts/_fix_wheel.sh'],
        cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines() if log.exists() else []


def _kinds(calls: list[str]) -> list[str]:
    return ["wheel" if "pip wheel" in c else "install" if "pip install" in c else "import"
            for c in calls]


def _cache(tmp_path: Path) -> Path:
    return tmp_path / "user-cache" / "livenode" / "wheels" / "quickfix-1.16.0-cp311-x86_64"


def test_builds_once_outside_the_clone_installs_and_then_leaves_it(tmp_path: Path) -> None:
    root = _clone(tmp_path)
    assert _kinds(_source(root)) == ["import", "wheel", "install"]
    assert list(_cache(tmp_path).glob("quickfix-1.16.0-*.whl"))
    assert not (root / ".cache").exists()  # nothing in the clone
    assert not list(_cache(tmp_path).glob(".build-*"))  # the staging directory is gone
    assert _kinds(_source(root)) == ["import"]  # importable: nothing to do


def test_another_clone_installs_the_cached_wheel_without_a_rebuild(tmp_path: Path) -> None:
    _source(_clone(tmp_path, "first"))
    calls = _source(_clone(tmp_path, "second"))
    assert _kinds(calls) == ["import", "install"]
    assert f"{_cache(tmp_path)}/quickfix-1.16.0-" in calls[1]
