"""Smoke tests of benchmarks/bench_tick_to_trade.py and of the summary's latency section.

No timing is asserted: only that the benchmark runs in its tiny mode, prints the
percentile table and writes its JSON result, and that the pieces it relies on
(the config rewrite, percentiles, the node summary's ``latency`` section) hold.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import deque
from pathlib import Path
from types import SimpleNamespace

import pytest

from livenode.cli.summary import latency_lines
from livenode.config import load_config
from livenode.node.stats import NodeStats

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "benchmarks" / "bench_tick_to_trade.py"
TABLE_HEADER = ("mode", "samples", "p50", "p90", "p99", "p99.9", "max")


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_tick_to_trade", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *args: str) -> tuple[str, dict]:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out), *args],
        capture_output=True, text=True, timeout=240, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def _assert_table(stdout: str, modes: list[str]) -> None:
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("mode"))
    assert header.split()[: len(TABLE_HEADER)] == list(TABLE_HEADER)
    for mode in modes:
        row = next(line for line in lines if line.startswith(mode))
        numbers = row[len(mode):].split()
        assert len(numbers) == 6  # samples and five percentiles
        assert int(numbers[0]) > 0
        assert all(float(n) >= 0 for n in numbers[1:])


def test_quick_single_mode_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    stdout, result = _run(tmp_path, "--modes", "single")
    _assert_table(stdout, ["single", "raw pyzmq 3 hops"])
    assert "single/raw_floor" in stdout
    modes = [row["mode"] for row in result["rows"]]
    assert modes == ["single", "raw pyzmq 3 hops"]
    for row in result["rows"]:
        assert row["samples"] > 0
        assert row["p50"] <= row["p90"] <= row["p99"] <= row["p99.9"] <= row["max"]
    assert result["ratios"]["single/raw_floor"]["p50"] > 0
    assert result["ratios"]["multiprocess/raw_floor"] is None


@pytest.mark.slow
def test_quick_both_modes_report_the_ratio_to_the_floor(tmp_path: Path) -> None:
    stdout, result = _run(tmp_path)
    _assert_table(stdout, ["single", "multiprocess", "raw pyzmq 3 hops"])
    assert "target: multiprocess p50 within 1.5x" in stdout
    assert set(result["ratios"]["multiprocess/raw_floor"]) == {"p50", "p90", "p99", "p99.9", "max"}
    multi = next(row for row in result["rows"] if row["mode"] == "multiprocess")
    assert multi["worker_cores"].keys() == {"data", "trader", "risk", "exec"}


def test_percentiles_are_nearest_rank() -> None:
    bench = _load_script()
    result = bench.percentiles_ns(list(range(1, 1001)))
    assert result == {"p50": 500, "p90": 900, "p99": 990, "p99.9": 999, "max": 1000}
    assert bench.percentiles_ns([]) == {}


def test_node_config_rewrites_mode_rate_and_topology(tmp_path: Path) -> None:
    bench = _load_script()
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the config names bench_components
    try:
        single = load_config(bench.node_config("single", 50, 3, "entry", tmp_path))
        assert single.mode == "single"
        path = bench.node_config("multiprocess", 50, 1, "venue", tmp_path, [0, 1, 0, 1])
        multi = load_config(path)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert multi.mode == "multiprocess"
    assert [(w.role, w.cores) for w in multi.workers] == [
        ("data", [0]), ("trader", [1]), ("risk", [0]), ("exec", [1])
    ]
    text = path.read_text()
    assert "rate_per_second = 50.0" in text
    assert '"livenode.adapters.sim:SimDataClientFactory"' in text


def test_summary_latency_section_and_table_line() -> None:
    client = SimpleNamespace(
        latencies_ns=deque(range(1000, 101_000, 1000)),
        latency_percentiles=lambda *qs: {q: int(q * 1000) for q in qs},
    )
    silent = SimpleNamespace(latencies_ns=deque(), latency_percentiles=lambda *qs: {})
    kernel = SimpleNamespace(exec_clients={"SIM": client, "IDLE": silent, "FIX": object()},
                             trader=None)
    latency = NodeStats(kernel).latency()  # type: ignore[arg-type]
    assert latency == {
        "tick_to_trade_ns": {
            "SIM": {"samples": 100, "p50": 50_000, "p90": 90_000, "p99": 99_000,
                    "p99.9": 99_900, "max": 100_000}
        }
    }
    assert latency_lines({"latency": latency}) == [
        "tick-to-trade  SIM: p50 50 us  p90 90 us  p99 99 us  p99.9 100 us  max 100 us (100 orders)"
    ]
    assert latency_lines({}) == []
