"""Signals at every moment of a multiprocess start and stop (issue 10, section 6).

A sweep of its own file: a multiprocess start takes seconds (four workers and a
venue process), so these runs are fewer and in a file of their own, which
pytest-xdist can run next to the single-mode sweeps.
See tests/acceptance/signal_sweep.py for how a sweep runs and what it checks.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.signal_sweep import (
    SANDBOX_MP,
    check,
    finish,
    run_base,
    sigterm_at_run_directory,
    start,
    sweep_config,
    wait_anchor,
)

pytestmark = pytest.mark.slow

__all__ = ["run_base"]  # the fixture

#: From the first line of output (services, spawning the workers, their start) and
#: from RUNNING (the workers' stop).
MP_SWEEP = (
    ("line", 0.0), ("line", 0.01), ("line", 0.1), ("line", 1.0),
    ("running", 0.0), ("running", 0.05), ("running", 0.3),
)


def test_second_sigint_10ms_later_multiprocess(tmp_path: Path, run_base: Path) -> None:
    trader = "SIGMPTWICE-001"
    config = sweep_config(tmp_path, SANDBOX_MP, trader)
    forced = 0
    for n, (anchor, delay) in enumerate(MP_SWEEP):
        node, summary_path = start(config, run_base, tmp_path, n)
        if anchor == "running":
            node.wait_for_line(r"^node \S+ RUNNING", timeout=60)
            time.sleep(delay)
        else:
            wait_anchor(node, anchor, delay)
        node.send(signal.SIGINT)
        time.sleep(0.01)
        if node.proc.poll() is None:
            node.send(signal.SIGINT)
        outcome = finish(node, summary_path, trader, run_base)
        what = f"SIGINT {delay}s after {anchor} and 10 ms later"
        check(outcome, what, codes={0, 130}, sig=signal.SIGINT)
        if outcome.code == 130:
            forced += 1
            # The documented code, and the summary table with the workers' fate.
            assert "== summary:" in "\n".join(outcome.stdout), outcome.describe(what)
            assert outcome.summary is not None
            assert outcome.summary["shutdown"]["forced"] is True  # type: ignore[index]
    assert forced, "no delay of the sweep reached a forced exit: the sweep tests nothing"


def test_sigterm_as_the_run_directory_appears_multiprocess(
    tmp_path: Path, run_base: Path
) -> None:
    sigterm_at_run_directory(
        tmp_path, run_base, SANDBOX_MP, "SIGMPRUNDIR-001", delays=(0.0, 0.001, 0.003, 0.006, 0.01),
    )
