"""`livenode run` as a user runs it: subprocess, signals, exit codes, output, summary JSON."""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.helpers import NODE_FIXTURES, ROOT, SANDBOX, LivenodeProcess
from tests.fixtures.node.checks import check_summary

pytestmark = pytest.mark.slow

Start = Callable[..., LivenodeProcess]
FILLS_SEEN = r"^status .* fills=([1-9]\d*) "


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_sigint_mid_run_stops_cleanly_with_consistent_summary(
    livenode: Start, tmp_path: Path
) -> None:
    summary_path = tmp_path / "run.summary.json"
    node = livenode("run", SANDBOX, "--summary-json", summary_path)
    node.wait_for_line(r"^  trader +SANDBOX-001$", timeout=60)
    node.wait_for_line(r"^  instruments .*BTCUSDT\.SIM.*ETHUSDT-PERP\.SIM", timeout=60)
    node.wait_for_line(FILLS_SEEN, timeout=90)
    node.send(signal.SIGINT)
    node.wait_for_line(r"^stopping: received SIGINT$", timeout=30)
    code = node.wait(timeout=90)
    assert code == 0, node.output()

    text = "\n".join(node.lines)
    assert "== summary: SANDBOX-001 (single, sandbox) ==" in text
    assert "shutdown       clean in" in text
    assert "positions" in text and "balances" in text

    summary = _load(summary_path)
    assert summary["exit_code"] == 0
    assert summary["shutdown"]["clean"] is True
    assert summary["shutdown"]["reason"] == "received SIGINT"
    assert 0 < summary["shutdown"]["seconds"] < 30
    assert summary["counters"]["fills"] > 0
    by_status = summary["orders"]["by_status"]
    assert set(by_status) >= {
        "submitted", "accepted", "filled", "partially_filled", "canceled", "rejected", "denied",
    }
    assert by_status["filled"] > 0
    assert summary["orders"]["total"] == sum(by_status.values())
    # A clean stop means in-flight orders settled: none is left awaiting the venue;
    # orders still working (if any) are listed one by one.
    assert by_status["submitted"] == 0
    working = by_status["accepted"] + by_status["partially_filled"]
    assert len(summary["orders"]["open"]) == working
    check_summary(summary, spot="BTCUSDT.SIM", perpetual="ETHUSDT-PERP.SIM")


def test_duration_stops_by_itself(livenode: Start, tmp_path: Path) -> None:
    summary_path = tmp_path / "s.json"
    started = time.monotonic()
    node = livenode("run", SANDBOX, "--duration", "3", "--summary-json", summary_path)
    code = node.wait(timeout=90)
    assert code == 0, node.output()
    assert time.monotonic() - started >= 3
    assert any(line == "stopping: --duration 3s elapsed" for line in node.lines), node.output()
    summary = _load(summary_path)
    assert summary["shutdown"]["clean"] is True
    assert summary["run_seconds"] >= 3
    check_summary(summary, spot="BTCUSDT.SIM", perpetual="ETHUSDT-PERP.SIM")


def test_invalid_config_exits_2_with_the_field(livenode: Start) -> None:
    config = NODE_FIXTURES / "invalid_rate.toml"
    node = livenode("run", config)
    assert node.wait(timeout=60) == 2
    err = node.stderr()
    assert f"error: {config}: risk_engine.max_order_submit_rate:" in err, err
    assert "fast" in err
    assert "Traceback" not in err


def test_missing_config_file_exits_2(livenode: Start, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    node = livenode("run", missing)
    assert node.wait(timeout=60) == 2
    assert f"error: {missing}: file not found" in node.stderr()


def test_start_gate_timeout_exits_1_naming_the_gate(livenode: Start, tmp_path: Path) -> None:
    summary_path = tmp_path / "gate.json"
    node = livenode("run", NODE_FIXTURES / "never_connects.toml", "--summary-json", summary_path)
    code = node.wait(timeout=60)
    assert code == 1, node.output()
    assert (
        "error: start gate 'connection' timed out after 1.0s: SLOW data client not connected"
        in node.stderr()
    )
    assert not any(line.startswith("running") for line in node.lines)
    summary = _load(summary_path)
    assert summary["started"] is False
    assert summary["gate_error"] == {
        "gate": "connection", "detail": "SLOW data client not connected",
    }


def test_failure_at_run_time_exits_1_with_the_reason(livenode: Start) -> None:
    node = livenode("run", NODE_FIXTURES / "failing_strategy.toml")
    assert node.wait(timeout=60) == 1, node.output()
    assert (
        "error: the node stopped because of a failure: strategy FailingStrategy-001 faulted: "
        "RuntimeError: deliberate failure" in node.stderr()
    )


def test_second_sigint_during_the_stop_forces_exit(livenode: Start) -> None:
    # This config's client never finishes disconnecting: the stop would take 60 s.
    node = livenode("run", NODE_FIXTURES / "stuck_disconnect.toml")
    node.wait_for_line(r"^running", timeout=60)
    node.send(signal.SIGINT)
    node.wait_for_line(r"^stopping: received SIGINT$", timeout=30)
    started = time.monotonic()
    node.send(signal.SIGINT)
    code = node.wait(timeout=30)
    assert code == 130, node.output()
    assert time.monotonic() - started < 10
    assert "forced exit" in node.stderr()


def test_sigterm_stops_like_sigint(livenode: Start) -> None:
    node = livenode("run", NODE_FIXTURES / "stuck_disconnect.toml")
    node.wait_for_line(r"^running", timeout=60)
    node.send(signal.SIGTERM)
    node.wait_for_line(r"^stopping: received SIGTERM$", timeout=30)
    node.send(signal.SIGTERM)
    assert node.wait(timeout=30) == 128 + signal.SIGTERM


def test_help_lists_only_working_commands(livenode: Start) -> None:
    node = livenode("--help")
    assert node.wait(timeout=60) == 0
    text = "\n".join(node.lines)
    built = ("run", "config", "status", "stop", "audit", "clean", "keys", "bench")
    for command in built:
        assert f"    {command} " in text, command
    # Every command listed is one of these (nothing offered that is not built).
    listed = re.findall(r"^    (\w+) ", text, re.MULTILINE)
    assert set(listed) <= set(built), listed


def test_python_dash_m_livenode_runs_the_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "livenode", "config", "validate", str(SANDBOX)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {SANDBOX}")


LOG_LINE = re.compile(r"^  log +(\S+) \((\w+) and up; the screen: (\w+) and up\)$")
RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\w+) +")


def test_the_default_screen_is_readable_and_the_fills_are_in_the_log_file(
    livenode: Start, tmp_path: Path
) -> None:
    """Issue 18: the screen was a flood of fill lines burying the status line. By
    default it shows the summaries, the status lines and WARNING and up; every fill
    is in the log file the startup summary names, in the data directory."""
    summary_path = tmp_path / "s.json"
    node = livenode("run", SANDBOX, "--duration", "3", "--summary-json", summary_path,
                    cwd=tmp_path, log_file=None)  # the default log file, under cwd
    log_line = LOG_LINE.match(node.wait_for_line(LOG_LINE.pattern, timeout=60).string)
    assert log_line is not None
    assert (log_line.group(2), log_line.group(3)) == ("INFO", "WARNING")
    code = node.wait(timeout=90)
    assert code == 0, node.output()
    log_file = tmp_path / log_line.group(1)
    assert log_file == tmp_path / "data" / "logs" / "SANDBOX-001.log", log_line.group(1)

    fills = _load(summary_path)["counters"]["fills"]
    assert fills > 0
    logged = [line for line in log_file.read_text().splitlines()
              if re.search(r" INFO +livenode\.orders: fill ", line)]
    assert len(logged) == fills, (len(logged), fills)
    # The screen: no fill, no INFO record, on stdout or stderr.
    screen = node.lines + node.stderr().splitlines()
    assert not [line for line in screen if "livenode.orders" in line], node.output()
    levels = {m.group(1) for line in screen if (m := RECORD.match(line))}
    assert levels <= {"WARNING", "ERROR", "CRITICAL"}, node.output()
    # Each status line is whole: it starts a line and holds no log record.
    status = [line for line in node.lines if "status t=" in line]
    assert status and all(line.startswith("status t=") and " INFO " not in line
                          for line in status), status


def test_multiprocess_workers_each_log_to_a_file_beside_the_node_s(
    livenode: Start, tmp_path: Path
) -> None:
    """One file per process, named for it, every line naming the process: the
    supervisor's is the one the startup summary names."""
    config = ROOT / "configs" / "sandbox-multiprocess.toml"
    node = livenode("run", config, "--duration", "2", cwd=tmp_path, log_file=None)
    log_line = LOG_LINE.match(node.wait_for_line(LOG_LINE.pattern, timeout=60).string)
    assert log_line is not None
    node.wait_for_line(r"^  +one per process beside it: SANDBOX-001-<process>\.log$", timeout=60)
    assert node.wait(timeout=120) == 0, node.output()
    logs = tmp_path / "data" / "logs"
    assert tmp_path / log_line.group(1) == logs / "SANDBOX-001.log"
    names = ["supervisor", "data-SIM", "trader", "risk", "exec-SIM", "sim-SIM"]
    for name in names:
        path = logs / ("SANDBOX-001.log" if name == "supervisor" else f"SANDBOX-001-{name}.log")
        records = [line for line in path.read_text().splitlines() if RECORD.match(line)]
        assert records, path
        assert all(f" [{name}] livenode." in line for line in records), (path, records[:3])
    trader = (logs / "SANDBOX-001-trader.log").read_text()
    assert " INFO    [trader] livenode.orders: fill " in trader
    assert not [line for line in node.lines + node.stderr().splitlines()
                if "livenode.orders" in line], node.output()
