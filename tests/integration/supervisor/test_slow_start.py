"""A multiprocess start on a starved host (issue 18): workers whose interpreters take
long to start, a stop that comes before they joined, a start that stops moving.

The slowness is real, not simulated in livenode: a `sitecustomize` put on the
workers' PYTHONPATH runs inside each worker's interpreter before anything of
livenode is imported, exactly where a loaded host makes a worker slow (35 s
before the first log line was seen at load 13). It either freezes the worker
(SIGSTOP to itself: a worker that never gets the CPU) or burns CPU for a while (a
worker importing slowly on a shared core).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest
from tests.fixtures.multiprocess.harness import MultiprocessHarness, wait_until

pytestmark = pytest.mark.slow

_HOOK = """\
import os, signal, sys, time
if "livenode.supervisor.worker" in sys.orig_argv:
    mode = os.environ.get("LIVENODE_TEST_WORKER_START", "")
    if mode == "freeze":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif mode.startswith("burn:"):
        until = time.process_time() + float(mode[5:])
        while time.process_time() < until:
            pass
"""


def _slow_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(_HOOK)
    # Before the suite's own PYTHONPATH (a worktree's src), which the node must keep.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(hook_dir), os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.setenv("LIVENODE_TEST_WORKER_START", mode)


def _overlay(tmp_path: Path, start_timeout: float) -> str:
    path = tmp_path / "start_timeout.toml"
    path.write_text(f"[supervisor]\nstart_timeout = {start_timeout}\n")
    return str(path)


def _workers(mp: MultiprocessHarness) -> list[psutil.Process]:
    return [p for p in mp.processes_of_run_base()
            if "livenode.supervisor.worker" in " ".join(p.cmdline())]


def _frozen(mp: MultiprocessHarness, count: int) -> list[psutil.Process] | None:
    workers = _workers(mp)
    if len(workers) == count and all(w.status() == psutil.STATUS_STOPPED for w in workers):
        return workers
    return None


def test_a_stop_before_the_workers_joined_is_clean_and_prompt(
    mp: MultiprocessHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while every worker is still in its interpreter's start (frozen before
    its hello): the Stops cannot be routed to them, and they may take many seconds
    to join. They have built nothing, so the supervisor ends them at once: exit 0,
    a clean stop, no phase timeout, no SIGKILL of a worker that had joined."""
    _slow_workers(tmp_path, monkeypatch, "freeze")
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", mp.config("plain.toml"), "--summary-json", summary_path)
    workers = wait_until(lambda: _frozen(mp, 4), 60, "four workers frozen before their hello")
    node.send(signal.SIGTERM)
    code = node.wait(timeout=60)
    log = node.log()
    assert code == 0, node.output() + log[-3000:]
    assert "did not stop within" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert log.count("had not joined yet: ended without a stop") == 4, log[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 0 and summary["shutdown"]["clean"] is True, summary
    assert not any(line.endswith("RUNNING (4 workers)") for line in node.lines), node.output()
    wait_until(lambda: all(not w.is_running() or w.status() == psutil.STATUS_ZOMBIE
                           for w in workers), 30, "frozen workers gone")


def test_a_start_that_stops_moving_fails_after_the_start_timeout(
    mp: MultiprocessHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers that never get to run (frozen): nothing moves, so after start_timeout
    the start fails, naming the workers and how far each got, and the stop ends them."""
    _slow_workers(tmp_path, monkeypatch, "freeze")
    config = mp.config("plain.toml", _overlay(tmp_path, 3.0))
    node = mp.start("run", config)
    code = node.wait(timeout=120)
    log = node.log()
    assert code == 1, node.output() + log[-3000:]
    assert "start made no progress for" in log, log[-3000:]
    for name in ("data-SIM", "trader", "risk", "exec-SIM"):
        assert f"{name} (no hello yet)" in log, log[-3000:]


def test_a_slow_start_that_keeps_moving_reaches_running(
    mp: MultiprocessHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker burns 4 s of CPU before its imports (four of them share this
    host's cores: well over the 3 s start timeout in wall time). The start is slow
    but moving, so it is not failed: the node reaches RUNNING and stops clean."""
    _slow_workers(tmp_path, monkeypatch, "burn:4")
    summary_path = tmp_path / "summary.json"
    config = mp.config("plain.toml", _overlay(tmp_path, 3.0))
    node = mp.start("run", config, "--summary-json", summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=180)
    node.send(signal.SIGINT)
    code = node.wait(timeout=90)
    log = node.log()
    assert code == 0, node.output() + log[-3000:]
    assert "start made no progress" not in log, log[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["shutdown"]["clean"] is True, summary
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
