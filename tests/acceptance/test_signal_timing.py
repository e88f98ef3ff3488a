"""Signals at every moment of a single-mode start and stop (issue 10, section 6).

See tests/acceptance/signal_sweep.py for how a sweep runs and what it checks.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.acceptance.helpers import SANDBOX
from tests.acceptance.signal_sweep import (
    SWEEP,
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


def test_sigint_at_any_moment_of_a_single_mode_start(tmp_path: Path, run_base: Path) -> None:
    trader = "SIGSTART-001"
    config = sweep_config(tmp_path, SANDBOX, trader)
    for n, (anchor, delay) in enumerate(SWEEP):
        node, summary_path = start(config, run_base, tmp_path, n)
        wait_anchor(node, anchor, delay)
        node.send(signal.SIGINT)
        outcome = finish(node, summary_path, trader, run_base)
        check(outcome, f"SIGINT {delay}s after {anchor}", codes={0}, sig=signal.SIGINT)


def test_second_sigint_10ms_later_single_mode(tmp_path: Path, run_base: Path) -> None:
    trader = "SIGTWICE-001"
    config = sweep_config(tmp_path, SANDBOX, trader, slow_venue=True)
    forced = 0
    for n, (anchor, delay) in enumerate(SWEEP):
        node, summary_path = start(config, run_base, tmp_path, n)
        wait_anchor(node, anchor, delay)
        node.send(signal.SIGINT)
        time.sleep(0.01)
        if node.proc.poll() is None:
            node.send(signal.SIGINT)
        outcome = finish(node, summary_path, trader, run_base)
        # 0: both signals were held together before the handlers (they coalesce),
        # or the stop was over before the second; 130: the second forced the exit.
        check(outcome, f"SIGINT {delay}s after {anchor} and 10 ms later", codes={0, 130},
               sig=signal.SIGINT)
        if outcome.code == 130:
            forced += 1
            assert "forced exit (130)" in outcome.stderr, outcome.describe("forced")
            assert outcome.summary is not None
            assert outcome.summary["shutdown"]["forced"] is True  # type: ignore[index]
    assert forced, "no delay of the sweep reached a forced exit: the sweep tests nothing"


def test_sigterm_as_the_run_directory_appears_single_mode(
    tmp_path: Path, run_base: Path
) -> None:
    sigterm_at_run_directory(tmp_path, run_base, SANDBOX, "SIGRUNDIR-001")
