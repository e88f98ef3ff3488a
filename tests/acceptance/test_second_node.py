"""One trader id, one node (issue 18): `livenode run` of a trader id that already runs
is refused, naming the running node, unless `--allow-second-node` asks for both; the
refused start touches nothing of the running node."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.acceptance.helpers import ROOT
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.slow

CONFIG = ROOT / "configs" / "sandbox.toml"


def test_a_second_node_of_a_running_trader_id_is_refused_unless_asked(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    first = mp.start("run", CONFIG, "--summary-json", tmp_path / "first.json")
    first.wait_for_line(r"^status t=", timeout=60)  # running: its first status line
    pid = first.proc.pid

    second = mp.start("run", CONFIG)
    assert second.wait(timeout=60) == 1, second.output()
    stderr = second.stderr()
    assert "a node of trader id SANDBOX-001 is already running" in stderr, stderr
    assert f"pid {pid}" in stderr and "--allow-second-node" in stderr, stderr
    assert not any(line.startswith("status t=") for line in second.lines), second.output()

    both = mp.start("run", CONFIG, "--allow-second-node", "--duration", "2")
    assert both.wait(timeout=120) == 0, both.output()
    assert "both trade the same account" in both.stderr()

    # The first ran on untouched: it stops clean.
    first.send(signal.SIGINT)
    assert first.wait(timeout=90) == 0, first.output()
    summary = json.loads((tmp_path / "first.json").read_text())
    assert summary["shutdown"]["clean"] is True
