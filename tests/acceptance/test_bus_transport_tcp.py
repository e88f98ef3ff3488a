"""A multiprocess node whose workers talk over TCP on loopback instead of ipc sockets,
secured with CURVE keys made by `livenode keys generate` (or, explicitly, not)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.helpers import ROOT, LivenodeProcess

pytestmark = pytest.mark.slow

Start = Callable[..., LivenodeProcess]


def tcp_config(tmp_path: Path, bus: str) -> Path:
    """The multiprocess sandbox with `bus` as its [message_bus] table."""
    text = (ROOT / "configs" / "sandbox-multiprocess.toml").read_text()
    text = re.sub(r'(?m)^trader_id = ".*"$', 'trader_id = "TCPBUS-001"', text)
    text = text.replace("[supervisor]\n", f"[message_bus]\n{bus}\n[supervisor]\n", 1)
    config = tmp_path / "tcp.toml"
    config.write_text(text)
    return config


def test_multiprocess_node_trades_over_tcp_with_curve(livenode: Start, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert livenode("keys", "generate", keys).wait(timeout=60) == 0
    config = tcp_config(tmp_path, f'transport = "tcp"\ncurve_keys_dir = "{keys}"\n')
    summary_path = tmp_path / "summary.json"
    node = livenode("run", config, "--duration", "8", "--summary-json", summary_path)
    assert node.wait(timeout=120) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["mode"] == "multiprocess"
    assert summary["counters"]["fills"] > 0
    assert {w["role"] for w in summary["workers"]} == {"data", "trader", "risk", "exec"}
    assert all(w["exit_status"] == "exit 0" for w in summary["workers"])
    assert "UNAUTHENTICATED" not in node.log()


def test_tcp_without_keys_is_refused_before_anything_starts(
    livenode: Start, tmp_path: Path
) -> None:
    node = livenode("run", tcp_config(tmp_path, 'transport = "tcp"\n'))
    assert node.wait(timeout=60) == 2, node.output()
    assert "message_bus.curve_keys_dir" in node.output()
