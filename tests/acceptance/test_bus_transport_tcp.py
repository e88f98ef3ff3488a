"""A multiprocess node whose workers talk over TCP on loopback instead of ipc sockets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.helpers import ROOT, LivenodeProcess

pytestmark = pytest.mark.slow

Start = Callable[..., LivenodeProcess]


def test_multiprocess_node_trades_over_tcp(livenode: Start, tmp_path: Path) -> None:
    text = (ROOT / "configs" / "sandbox-multiprocess.toml").read_text()
    text = re.sub(r'(?m)^trader_id = ".*"$', 'trader_id = "TCPBUS-001"', text)
    text = text.replace("[supervisor]\n", '[message_bus]\ntransport = "tcp"\n\n[supervisor]\n', 1)
    config = tmp_path / "tcp.toml"
    config.write_text(text)
    summary_path = tmp_path / "summary.json"
    node = livenode("run", config, "--duration", "8", "--summary-json", summary_path)
    assert node.wait(timeout=120) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["mode"] == "multiprocess"
    assert summary["counters"]["fills"] > 0
    assert {w["role"] for w in summary["workers"]} == {"data", "trader", "risk", "exec"}
    assert all(w["exit_status"] == "exit 0" for w in summary["workers"])
