"""Bad data is contained (issue 17), through `livenode run` in both modes.

Every kind of bad replay line (a negative size, a price beyond the fixed-point range,
bytes that are not UTF-8, a field over the csv module's limit, a negative or zero
price, a crossed quote, time going backwards) goes through ``on_bad_line``: the run
ends by itself, exit 0 with the lines skipped and counted, or exit 1 naming
file:line; never a node left running without data. A feed that fails for any other
reason (injected: `tests.fixtures.adapters.failing_sim`) stops the node with exit 1
and the reason, or resumes with ``on_error = "restart"``. A feed that goes quiet
shows as STALE in the status line and the metrics, and fresh again when ticks resume.

Single mode runs the venue in the node; multiprocess mode runs it as a process of its
own. Under the `mp` harness: nothing may be left behind (processes, run directories,
shared memory). Waits are on output lines and exits, never fixed sleeps.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.test_metrics import _free_port, scrape_until, value
from tests.acceptance.test_replay_run import replay_config
from tests.fixtures.adapters.failing_sim import MESSAGE
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.slow

MODES = ["single", "multiprocess"]
HEADER = (b"ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size,"
          b"aggressor_side,trade_id")
T = 1704067200000000000
FAILING_FACTORY = "tests.fixtures.adapters.failing_sim:FailingSimDataClientFactory"


def quote(ts: int, bid: str = "42000.10", bid_size: str = "1.5", ask: str = "42000.20",
          ask_size: str = "0.7", symbol: bytes = b"BTCUSDT") -> bytes:
    return b"%d,%s,quote,%s,%s,%s,%s,,,," % (ts, symbol, bid.encode(), bid_size.encode(),
                                            ask.encode(), ask_size.encode())


def trade(ts: int, price: str = "42000.20", size: str = "0.1", trade_id: str = "T1") -> bytes:
    return b"%d,BTCUSDT,trade,,,,,%s,%s,BUYER,%s" % (ts, price.encode(), size.encode(),
                                                      trade_id.encode())


# name -> (the bad line at time T + 1000, what the error says after "file:line: ")
BAD: dict[str, tuple[bytes, str]] = {
    "negative_size": (quote(T + 1000, bid_size="-1.5"), "bid size -1.50000 is negative"),
    "price_beyond_range": (quote(T + 1000, ask="92233720368547758.08"),
                           "ask price 92233720368547758.08 is beyond the fixed-point range"),
    "not_utf8": (quote(T + 1000, symbol=b"BTC\xffUSDT"), "not UTF-8: byte 0xff at character 24"),
    "field_over_csv_limit": (trade(T + 1000, trade_id="T" * (csv.field_size_limit() + 1)),
                             "field larger than field limit (131072)"),
    "negative_price": (quote(T + 1000, bid="-42000.10"), "bid price -42000.10 is not positive"),
    "zero_price": (trade(T + 1000, price="0"), "price 0.00 is not positive"),
    "crossed_quote": (quote(T + 1000, bid="42000.30"),
                      "crossed quote: bid 42000.30 > ask 42000.20"),
    "time_backwards": (quote(T - 1000),
                       "time goes backwards: 2023-12-31T23:59:59.999999000Z after "
                       "2024-01-01T00:00:00.000000000Z on an earlier line"),
}


def write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join([HEADER, *lines]) + b"\n")
    return path


def run(
    mp: MultiprocessHarness, config: Path, timeout: float = 120  # noqa: F811
) -> tuple[int, str, dict[str, Any]]:
    summary = config.with_name("summary.json")
    node = mp.start("run", config, "--summary-json", summary)
    code = node.wait(timeout=timeout)
    return code, node.log(), json.loads(summary.read_text())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_line_stops_the_node_with_exit_1_naming_file_and_line(
    mp: MultiprocessHarness, tmp_path: Path, mode: str, case: str  # noqa: F811
) -> None:
    line, what = BAD[case]
    data = write(tmp_path / f"{case}.csv", [quote(T), line, quote(T + 2000), trade(T + 3000)])
    code, err, summary = run(mp, replay_config(tmp_path, [data], mode=mode))
    assert code == 1, err
    reason = f"replay failed: {data}:3: {what}"
    assert f"error: the node stopped because of a failure: {reason}" in err, err[-3000:]
    assert summary["exit_code"] == 1 and summary["failure"] == reason
    assert summary["counters"]["quotes"] == 1  # the good line before it
    assert "ReplayProbe-001 saw 1 quote(s), 0 trade(s)" in err


@pytest.mark.parametrize("mode", MODES)
def test_bad_lines_skipped_are_counted_and_the_run_ends_with_exit_0(
    mp: MultiprocessHarness, tmp_path: Path, mode: str  # noqa: F811
) -> None:
    # Every kind, each between two good lines; times go up by 1 us per line.
    lines = [quote(T)]
    for i, (bad, _what) in enumerate(BAD.values()):
        ts = T + (2 * i + 1) * 1000
        if bad.startswith(b"%d," % (T - 1000)):
            bad = quote(ts - 2000)  # before the previous good line
        else:
            bad = bad.replace(b"%d," % (T + 1000), b"%d," % ts, 1)
        lines += [bad, quote(ts + 1000) if i % 2 else trade(ts + 1000, trade_id=f"T{i}")]
    data = write(tmp_path / "mixed.csv", lines)
    config = replay_config(tmp_path, [data], mode=mode, extra='on_bad_line = "skip"')
    code, err, summary = run(mp, config)
    assert code == 0, err[-3000:]
    n = len(BAD)
    assert summary["exit_code"] == 0 and summary["failure"] is None
    assert summary["shutdown"]["reason"] == (f"replay finished: 5 quotes, 4 trades, "
                                            f"{n} bad line(s) skipped")
    assert summary["counters"]["quotes"] == 5 and summary["counters"]["trades"] == 4
    assert f"{n} bad line(s) skipped" in err
    for i, (_bad, what) in enumerate(BAD.values()):
        assert f"replay: skipped {data}:{2 * i + 3}: {what.split(' 2023')[0]}" in err, what
    assert "ReplayProbe-001 saw 5 quote(s), 4 trade(s)" in err


# -- a feed that fails for another reason ------------------------------------------------------


def failing_config(tmp_path: Path, mode: str, data: Path, extra: str = "") -> Path:
    config = replay_config(tmp_path, [data], mode=mode, extra=extra)
    config.write_text(config.read_text().replace(
        'factory = "livenode.adapters.sim:SimDataClientFactory"', f'factory = "{FAILING_FACTORY}"'))
    return config


@pytest.mark.parametrize("mode", MODES)
def test_a_failing_feed_stops_the_node_with_exit_1_and_the_reason(
    mp: MultiprocessHarness, tmp_path: Path, mode: str  # noqa: F811
) -> None:
    data = write(tmp_path / "q.csv", [quote(T), quote(T + 1000, bid_size="0.07777"),
                                      quote(T + 2000)])
    code, err, summary = run(mp, failing_config(tmp_path, mode, data))
    assert code == 1, err[-3000:]
    reason = f"replay failed: sim feed failed: RuntimeError: {MESSAGE}"
    assert f"error: the node stopped because of a failure: {reason}" in err, err[-3000:]
    assert summary["failure"] == reason and summary["counters"]["quotes"] == 1
    assert "Traceback" in err  # the feed's log names where it failed


@pytest.mark.parametrize("mode", MODES)
def test_on_error_restart_resumes_the_feed_after_the_failed_record(
    mp: MultiprocessHarness, tmp_path: Path, mode: str  # noqa: F811
) -> None:
    data = write(tmp_path / "q.csv", [quote(T), quote(T + 1000, bid_size="0.07777"),
                                      quote(T + 2000)])
    code, err, summary = run(mp, failing_config(tmp_path, mode, data, 'on_error = "restart"'))
    assert code == 0, err[-3000:]
    assert "sim feed failed (1 in a row); on_error = restart: resuming in 0.1s" in err
    assert "replay finished: 2 quotes, 0 trades, 2024-01-01T00:00:00.000000000Z .. " \
           "2024-01-01T00:00:00.000002000Z, 1 record(s) lost to feed errors" in err
    assert summary["counters"]["quotes"] == 2 and summary["failure"] is None


@pytest.mark.parametrize("mode", MODES)
def test_a_random_walk_that_fails_stops_the_node_with_exit_1(
    mp: MultiprocessHarness, tmp_path: Path, mode: str  # noqa: F811
) -> None:
    config = failing_config(tmp_path, mode, write(tmp_path / "q.csv", [quote(T)]))
    text = config.read_text()
    feed = text[text.index('mode = "replay"'):text.index("[[data_clients")]
    text = (text.replace(feed, "mode = \"random_walk\"\nrate_per_second = 50.0\n\n")
            .replace('symbol = "BTCUSDT"', 'symbol = "FAILUSDT"')
            .replace('instrument_id = "BTCUSDT.SIM"', 'instrument_id = "FAILUSDT.SIM"'))
    config.write_text(text)
    code, err, summary = run(mp, config)
    assert code == 1, err[-3000:]
    reason = f"market feed failed: sim feed failed: RuntimeError: {MESSAGE}"
    assert summary["failure"] == reason, err[-3000:]
    assert f"error: the node stopped because of a failure: {reason}" in err


# -- staleness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_quiet_feed_shows_stale_then_fresh_in_the_status_line_and_metrics(
    mp: MultiprocessHarness, tmp_path: Path, mode: str  # noqa: F811
) -> None:
    # At the recorded pace: 0.1 s of quotes, 6 s of silence, 2 s of quotes (time for a
    # status line after the feed is fresh again), the end.
    lines = [quote(T + i * 10_000_000) for i in range(10)]
    lines += [quote(T + 6_100_000_000 + i * 100_000_000) for i in range(20)]
    data = write(tmp_path / "gap.csv", lines)
    port = _free_port()
    config = replay_config(tmp_path, [data], mode=mode)
    text = config.read_text().replace("replay_speed = 0.0", "replay_speed = 1.0")
    config.write_text(text.replace(
        "[data_clients.SIM]\n",
        f"[data_engine]\nstale_after = 1.0\n\n[metrics]\nenabled = true\nport = {port}\n\n"
        "[data_clients.SIM]\n", 1))
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", config, "--summary-json", summary_path)
    node.wait_for_line(r"^status .* STALE=SIM$", timeout=90)
    stale = scrape_until(port, lambda s: value(s, "livenode_data_feed_stale", venue="SIM") == 1,
                         "the feed STALE in the metrics")
    assert value(stale, "livenode_data_feed_idle_seconds", venue="SIM") >= 1.0
    node.wait_for_line(r"^status (?!.*STALE).*$", timeout=30)  # ticks came back
    assert node.wait(timeout=90) == 0, node.output()
    err = node.log()
    assert "DataEngine: no data from SIM for " in err and ": STALE (stale_after = 1s)" in err
    assert "DataEngine: data from SIM again: fresh" in err
    summary = json.loads(summary_path.read_text())
    assert summary["counters"]["quotes"] == 30 and summary["exit_code"] == 0
    assert summary["feeds"]["SIM"]["stale"] is False
