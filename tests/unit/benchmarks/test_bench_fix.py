"""Smoke test of benchmarks/bench_fix.py: it runs with a tiny count and writes its result.

No timing is asserted: only that both nodes (sim, and FIX against the real QuickFIX
acceptor) produced tick-to-trade samples, that the codec and sequence number rows and
the ratios are there, and that the host's load is recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "bench_fix.py"


def test_the_fix_benchmark_runs_both_nodes_and_records_the_load(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--duration", "1", "--codec-count", "300",
         "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    nodes = {row["mode"]: row for row in result["tick_to_trade"]}
    assert set(nodes) == {"sim", "fix"}
    for row in nodes.values():
        assert row["samples"] > 0 and 0 < row["p50"] <= row["p90"] <= row["p99"] <= row["max"]
    codec = [row["mode"] for row in result["codec"]]
    assert codec == ["fix codec: encode NewOrderSingle", "fix codec: decode ExecutionReport",
                     "fix seqnums: save to the file", "fix seqnums: save to sqlite"]
    assert set(result["ratios"]["fix/sim"]) == {"p50", "p90", "p99", "max"}
    assert "load average" in result["host"]["uptime_before"]
    assert "load average" in result["host"]["uptime_after"]
    assert "fix/sim" in proc.stdout and "uptime before:" in proc.stdout
