"""`livenode audit` against a running single-process node (the multiprocess node's is
in tests/integration/supervisor/test_external_fill_multiprocess.py): it answers on the
node's own socket, the books match the embedded venue's, and the stop's summary says so
too; with no node running it says none was found."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.acceptance.helpers import LivenodeProcess, livenode_command

ROOT = Path(__file__).resolve().parents[2]

Start = Callable[..., LivenodeProcess]


def _audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*livenode_command(), "audit", "--trader", "AUDITCLI-001", *args],
                          capture_output=True, text=True, timeout=120)


def test_audit_answers_for_a_running_single_node_and_the_stop_agrees(
    livenode: Start, tmp_path: Path
) -> None:
    config = tmp_path / "audit.toml"
    text = (ROOT / "configs" / "sandbox.toml").read_text()
    config.write_text(re.sub(r'(?m)^trader_id = ".*"$', 'trader_id = "AUDITCLI-001"', text))
    summary_path = tmp_path / "summary.json"
    node = livenode("run", config, "--summary-json", summary_path)
    node.wait_for_line(r"^status .* fills=[1-9]", timeout=90)

    answer = _audit("--json")
    assert answer.returncode == 0, answer.stdout + answer.stderr
    verdict = json.loads(answer.stdout)
    assert verdict["books_match_venue"] is True and verdict["error"] is None, verdict
    sim = verdict["venues"]["SIM"]
    assert sim["checked"] == ["orders", "positions", "balances", "fills"] and sim["matches"]
    table = _audit()
    assert table.returncode == 0 and table.stdout.startswith("books match venue"), table

    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == 0, node.output()
    assert re.search(r"(?m)^audit +books match venue$", node.output()), node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["audit"]["books_match_venue"] is True

    gone = _audit()
    assert gone.returncode == 3 and "no running node" in gone.stderr, gone
