"""Signal sweeps: start `livenode run` again and again, signal it at a different
moment each time, check how each run ended (issue 10, section 6).

Each test is a sweep: the same `livenode run` is started again and again and
signalled at a different delay, from the first instant of the process to well
after RUNNING, so a hole in the timing shows up as one failing delay instead of
depending on one lucky timing. Every run must end by itself with a documented
exit code, no traceback, and nothing left behind: no process, no run directory,
no shared-memory segment (valid or half-written) of its trader id.

The delay is the thing under test, so it is slept deliberately; everything else
waits on the process (its output, its run directory, its exit).

A signal that lands before livenode's own code runs (the interpreter starting)
meets Python's default action; nothing of the node exists yet, so the process
may die by it, as long as it leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from livenode.cache.shm.cleanup import list_segments
from livenode.supervisor.rundir import RUN_BASE_ENV
from tests.acceptance.helpers import ROOT, LivenodeProcess

SANDBOX_MP = ROOT / "configs" / "sandbox-multiprocess.toml"
#: When the first signal is sent: ("start", s) seconds after the process started
#: (the interpreter, the imports), ("line", s) after its first line of output (the
#: startup summary: next come the node, the run directory, the shared memory, the
#: signal handlers, the start gates and RUNNING, all within some 20 ms here, then
#: the run itself).
SWEEP = (
    ("start", 0.0), ("start", 0.05), ("start", 0.15),
    ("line", 0.0), ("line", 0.002), ("line", 0.004), ("line", 0.007), ("line", 0.01),
    ("line", 0.02), ("line", 0.03), ("line", 0.05), ("line", 0.2), ("line", 1.0),
)
#: After the run directory appears (the SIGTERM hole): the first milliseconds.
RUN_DIR_SWEEP = (0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.008, 0.012, 0.02, 0.04)


@dataclass
class Outcome:
    code: int
    stdout: list[str]
    stderr: str
    run_base: Path
    summary: dict[str, object] | None
    leftovers: list[str]

    def describe(self, what: str) -> str:
        return (f"{what}: exit {self.code}\n" + "\n".join(self.stdout)
                + "\n--- log ---\n" + self.stderr[-3000:])


@pytest.fixture
def run_base() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="ln-sig-", dir="/tmp"))
    yield base
    for path in sorted(base.glob("**/*"), reverse=True):
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    base.rmdir()


def sweep_config(tmp_path: Path, source: Path, trader: str, *, slow_venue: bool = False) -> Path:
    """The sandbox config under a trader id of this test only (leftovers are judged
    by trader id: other sessions may run the sandbox at the same time).

    `slow_venue`: the venue acknowledges after 150 ms, so the managed stop (cancel
    the market maker's quotes) lasts long enough for a second signal to land in it.
    """
    text = source.read_text().replace('trader_id = "SANDBOX-001"', f'trader_id = "{trader}"')
    assert f'trader_id = "{trader}"' in text
    if slow_venue:
        text, count = re.subn(r"(?m)^ack_latency_ms = .*$", "ack_latency_ms = 150", text)
        assert count == 1
    path = tmp_path / f"{trader}.toml"
    path.write_text(text)
    return path


def _leftovers(trader: str, run_base: Path, pid: int) -> list[str]:
    found = [f"run directory {p.name}" for p in run_base.iterdir()]
    for segment in list_segments(trader, invalid_grace_s=0.0):
        found.append(f"segment {segment.name} ({segment.reason or 'owner alive'})")
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if str(run_base) in cmdline and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"process {process.pid}: {cmdline[:120]}")
        except psutil.Error:
            continue
    return found


def start(config: Path, run_base: Path, tmp_path: Path, n: int) -> tuple[LivenodeProcess, Path]:
    summary_path = tmp_path / f"summary-{n}.json"
    summary_path.unlink(missing_ok=True)
    os.environ[RUN_BASE_ENV] = str(run_base)
    try:
        node = LivenodeProcess(
            "run", config, "--summary-json", summary_path, stderr_path=tmp_path / f"err-{n}.log"
        )
    finally:
        del os.environ[RUN_BASE_ENV]
    return node, summary_path


def finish(
    node: LivenodeProcess, summary_path: Path, trader: str, run_base: Path
) -> Outcome:
    try:
        code = node.wait(timeout=60)
    finally:
        node.kill()
    # Workers and services leave with their supervisor; give them a moment (polled).
    deadline = time.monotonic() + 15
    left = _leftovers(trader, run_base, node.proc.pid)
    while any(x.startswith("process") for x in left) and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _leftovers(trader, run_base, node.proc.pid)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    outcome = Outcome(code, list(node.lines), node.log(), run_base, summary, left)
    _remove_leftovers(trader, run_base)
    return outcome


def _remove_leftovers(trader: str, run_base: Path) -> None:
    """So that one failing delay does not spoil the next ones."""
    for segment in list_segments(trader, invalid_grace_s=0.0):
        if not segment.owner_alive:
            Path(segment.path).unlink(missing_ok=True)
    for path in run_base.iterdir():
        subprocess.run(["rm", "-rf", str(path)], check=False)


def wait_anchor(node: LivenodeProcess, anchor: str, delay: float) -> None:
    if anchor == "line":
        node.wait_for_line(r"^livenode run ", timeout=30)
    time.sleep(delay)


def _killed_before_livenode_ran(outcome: Outcome, sig: signal.Signals) -> bool:
    """Python's default action, before any livenode code: nothing printed, nothing made.

    SIGTERM kills the interpreter; SIGINT raises KeyboardInterrupt in whatever the
    interpreter was importing at that moment (`site`, or livenode's own imports
    before `livenode run` blocks the signals), which ends it with exit 1 (docs/cli.md,
    "Signals during start-up")."""
    if outcome.stdout or outcome.summary is not None:
        return False
    if outcome.code == -sig:
        return True
    return (sig == signal.SIGINT and outcome.code == 1
            and outcome.stderr.rstrip().endswith("KeyboardInterrupt"))


def check(outcome: Outcome, what: str, *, codes: set[int], sig: signal.Signals) -> None:
    assert not outcome.leftovers, outcome.describe(f"{what}: left {outcome.leftovers}")
    if _killed_before_livenode_ran(outcome, sig):
        return
    assert outcome.code in codes, outcome.describe(what)
    assert "Traceback" not in outcome.stderr, outcome.describe(what)
    assert "dispose() while the node runs" not in outcome.stderr, outcome.describe(what)
    # Whatever happened, the run said how it ended.
    assert outcome.summary is not None, outcome.describe(f"{what}: no summary JSON")
    assert outcome.summary["exit_code"] == outcome.code, outcome.describe(what)


def sigterm_at_run_directory(
    tmp_path: Path, run_base: Path, source: Path, trader: str,
    delays: tuple[float, ...] = RUN_DIR_SWEEP, codes: frozenset[int] = frozenset({0}),
) -> None:
    """SIGTERM right as the run directory (or its hidden staging directory) appears,
    and a few milliseconds later: before the fix the default action killed the node
    there, leaving the directory and the shared memory."""
    config = sweep_config(tmp_path, source, trader)
    for n, delay in enumerate(delays):
        node, summary_path = start(config, run_base, tmp_path, n)
        deadline = time.monotonic() + 30
        # The staging directory (hidden) or the run directory itself: the first entry.
        while not any(True for _ in run_base.iterdir()):
            assert node.proc.poll() is None, node.output()
            assert time.monotonic() < deadline, "no run directory within 30 s"
            time.sleep(0.0002)
        if delay:
            time.sleep(delay)
        node.send(signal.SIGTERM)
        outcome = finish(node, summary_path, trader, run_base)
        check(outcome, f"SIGTERM {delay * 1000:g} ms after the run directory appeared",
               codes=set(codes), sig=signal.SIGTERM)
