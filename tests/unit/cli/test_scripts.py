"""scripts/livenode, scripts/run, scripts/test and the _bootstrap.sh they source: which
dependencies each installs into .venv, and when the stamp file makes them reinstall.

The scripts run for real (bash) on a copy of scripts/ and a pyproject.toml; the venv's
programs (python, livenode, ruff, mypy, redis-server) are stand-ins that log how they
were called, so no package is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STUB = '#!/bin/sh\necho "{name} $*" >> "$STUB_LOG"\n'


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    root = tmp_path / "clone"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    (root / "pyproject.toml").write_text('[project]\nname = "livenode"\n')
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "livenode", "ruff", "mypy", "redis-server"):
        (bin_dir / name).write_text(STUB.format(name=name))
        (bin_dir / name).chmod(0o755)
    # The pyproject predates any install made by the tests.
    past = time.time() - 100
    os.utime(root / "pyproject.toml", (past, past))
    return root


def run(clone: Path, *command: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = clone / "stub.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "STUB_LOG": str(log)}
    result = subprocess.run(
        list(command), cwd=clone, env=env, capture_output=True, text=True, timeout=60
    )
    return result, log.read_text().splitlines() if log.exists() else []


def installs(calls: list[str]) -> list[str]:
    return [c.split(" -e ", 1)[1] for c in calls if c.startswith("python -m pip install") and
            " -e " in c]


def stamp(clone: Path) -> str:
    return (clone / ".venv" / ".livenode-installed").read_text().strip()


def test_livenode_wrapper_installs_the_runtime_only_then_runs_the_cli(clone: Path) -> None:
    result, calls = run(clone, "scripts/livenode", "config", "validate", "my.toml")
    assert result.returncode == 0, result.stderr
    assert installs(calls) == [str(clone)]  # no [test] extras
    assert calls[-1] == "livenode config validate my.toml"
    assert stamp(clone) == "runtime"
    result, calls = run(clone, "scripts/livenode", "--version")
    assert installs(calls) == [] and calls == ["livenode --version"]


def test_run_installs_the_runtime_only(clone: Path) -> None:
    result, calls = run(clone, "scripts/run", "--duration", "1")
    assert result.returncode == 0, result.stderr
    assert installs(calls) == [str(clone)]
    assert calls[-1] == "livenode run configs/sandbox.toml --duration 1"


def test_test_extras_after_a_runtime_install_reinstall_and_then_serve_both(
    clone: Path,
) -> None:
    run(clone, "scripts/run")
    assert stamp(clone) == "runtime"
    result, calls = run(clone, "scripts/test", "-k", "x")
    assert result.returncode == 0, result.stderr
    assert installs(calls) == [f"{clone}[test]"]
    assert calls[-3:] == ["ruff check src tests", "mypy ", "python -m pytest -n auto -k x"]
    assert stamp(clone) == "test"
    # The test extras include the runtime: running does not reinstall.
    _, calls = run(clone, "scripts/run")
    assert installs(calls) == [] and stamp(clone) == "test"
    _, calls = run(clone, "scripts/test")
    assert installs(calls) == []


def test_a_changed_pyproject_reinstalls(clone: Path) -> None:
    run(clone, "scripts/livenode", "--version")
    future = time.time() + 100
    os.utime(clone / "pyproject.toml", (future, future))
    _, calls = run(clone, "scripts/livenode", "--version")
    assert installs(calls) == [str(clone)]


def test_bare_source_means_test_extras_and_an_old_empty_stamp_counts_as_test(
    clone: Path,
) -> None:
    _, calls = run(clone, "bash", "-c", "source scripts/_bootstrap.sh")
    assert installs(calls) == [f"{clone}[test]"]
    (clone / ".venv" / ".livenode-installed").write_text("")  # written by older scripts
    _, calls = run(clone, "bash", "-c", "source scripts/_bootstrap.sh test")
    assert installs(calls) == []


def test_an_unknown_extras_argument_is_refused(clone: Path) -> None:
    result, calls = run(clone, "bash", "-c", "source scripts/_bootstrap.sh dev")
    assert result.returncode == 2 and "expected 'runtime' or 'test'" in result.stderr
    assert calls == []
