"""Replay through the live node (issue 10 §2): `livenode run` on recorded files.

Speed 0 replays into subscribed strategies, the end is logged and (with
`stop_at_end`) stops the node cleanly; a bad line stops the node with exit 1 or
is skipped per `on_bad_line`; a missing file fails `config validate`. The same in
multiprocess mode, where the venue is a process of its own and its feed starts
only once every trader worker's strategies have subscribed.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.helpers import LivenodeProcess
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
    wait_log,
)

pytestmark = pytest.mark.slow

Start = Callable[..., LivenodeProcess]
DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "sim"


def replay_config(
    tmp_path: Path, paths: list[Path], *, fmt: str = "generic", extra: str = "",
    strategy: str = "", mode: str = "single",
) -> Path:
    files = ", ".join(json.dumps(str(p)) for p in paths)
    # Multiprocess: the node-wide stop bound must exceed the sum of the stop phases.
    timeouts = "[timeouts]\nshutdown = 60\n" if mode == "multiprocess" else ""
    text = f"""
trader_id = "REPLAY-001"
mode = "{mode}"
status_interval = 0.2
{timeouts}

[data_clients.SIM]
factory = "livenode.adapters.sim:SimDataClientFactory"
[data_clients.SIM.config]
venue = "SIM"
[data_clients.SIM.config.venue_config]
starting_balances = ["1000000 USDT", "10 BTC"]
[data_clients.SIM.config.venue_config.feed]
mode = "replay"
replay_path = [{files}]
replay_format = "{fmt}"
replay_speed = 0.0
stop_at_end = true
{extra}
[[data_clients.SIM.config.venue_config.instruments]]
symbol = "BTCUSDT"
kind = "spot"
base = "BTC"
quote = "USDT"

[exec_clients.SIM]
factory = "livenode.adapters.sim:SimExecClientFactory"
[exec_clients.SIM.config]
venue = "SIM"

[[strategies]]
path = "tests.fixtures.node.strategies:ReplayProbe"
config_path = "tests.fixtures.node.strategies:ReplayProbeConfig"
[strategies.config]
instrument_id = "BTCUSDT.SIM"
{strategy}
"""
    path = tmp_path / "replay.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("files", "fmt", "quotes", "trades", "first", "last"),
    [
        (["generic_quotes_trades.csv"], "generic", 2, 2,
         "2024-01-01T00:00:00.000000000Z", "2024-01-01T00:00:00.060000000Z"),
        (["BTCUSDT-bookTicker-2024-01-01.csv", "BTCUSDT-trades-2024-01-01.csv"], "auto", 4, 3,
         None, None),
    ],
    ids=["generic", "binance"],
)
def test_fast_replay_reaches_the_strategies_then_stops_the_node_cleanly(
    livenode: Start, tmp_path: Path, files: list[str], fmt: str, quotes: int, trades: int,
    first: str | None, last: str | None,
) -> None:
    config = replay_config(tmp_path, [DATA / f for f in files], fmt=fmt)
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["counters"]["quotes"] == quotes, node.output()
    assert summary["counters"]["trades"] == trades, node.output()
    assert summary["shutdown"]["clean"] is True
    assert summary["shutdown"]["reason"].startswith(f"replay finished: {quotes} quotes")
    assert f"stopping: replay finished: {quotes} quotes, {trades} trades" in node.lines
    finished = f"replay finished: {quotes} quotes, {trades} trades, "
    if first is not None:
        finished += f"{first} .. {last}"
    assert finished in node.log(), node.output()


def test_bad_line_stops_the_node_with_exit_1_by_default(livenode: Start, tmp_path: Path) -> None:
    config = replay_config(tmp_path, [DATA / "generic_malformed.csv"])
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=90) == 1, node.output()
    reason = "generic_malformed.csv:3: not a decimal number: 'abc'"
    assert reason in node.log()
    assert "error: the node stopped because of a failure: replay failed: " in node.log()
    summary = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 1 and reason in summary["failure"]
    assert summary["counters"]["quotes"] == 1  # the good line before it


def test_bad_line_skipped_when_configured(livenode: Start, tmp_path: Path) -> None:
    bad = tmp_path / "mixed.csv"
    lines = (DATA / "generic_quotes_trades.csv").read_text().splitlines()
    lines.insert(3, "1704067200005000000,BTCUSDT,quote,42000.10,abc,42000.20,0.7,,,,")
    bad.write_text("\n".join(lines) + "\n")
    config = replay_config(tmp_path, [bad], extra='on_bad_line = "skip"')
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=90) == 0, node.output()
    err = node.log()
    assert "replay: skipped " in err and "mixed.csv:4: not a decimal number: 'abc'" in err
    assert "1 bad line(s) skipped" in err
    summary = json.loads(summary_path.read_text())
    assert summary["counters"]["quotes"] == 2 and summary["exit_code"] == 0


def test_config_validate_fails_on_a_missing_replay_file(livenode: Start, tmp_path: Path) -> None:
    config = replay_config(tmp_path, [DATA / "generic_quotes_trades.csv", tmp_path / "gone.csv"])
    node = livenode("config", "validate", config)
    assert node.wait(timeout=60) == 2, node.output()
    err = node.log()
    assert "data_clients.SIM.config.venue_config.feed.replay_path: replay file" in err, err
    assert "gone.csv' not found" in err


# -- multiprocess: the venue process starts its replay once the strategies subscribed -------


def generated_replay(path: Path, quotes: int, trades: int) -> Path:
    """A generic file of `quotes` BTCUSDT quotes with `trades` trades among them."""
    lines = ["ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size,"
             "aggressor_side,trade_id"]
    ts = 1704067200000000000
    every = max(1, quotes // max(trades, 1))
    made = 0
    for i in range(quotes):
        ts += 1_000_000
        cents = 10 + i % 50
        lines.append(f"{ts},BTCUSDT,quote,42000.{cents:02d},1.5,42001.{cents:02d},0.7,,,,")
        if made < trades and i % every == every - 1:
            ts += 1_000_000
            made += 1
            lines.append(f"{ts},BTCUSDT,trade,,,,,42001.{cents:02d},0.1,BUYER,T{made}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_multiprocess_fast_replay_reaches_the_strategy_then_stops_the_node_cleanly(
    livenode: Start, tmp_path: Path,
) -> None:
    data = generated_replay(tmp_path / "many.csv", quotes=3000, trades=300)
    config = replay_config(tmp_path, [data], mode="multiprocess")
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=120) == 0, node.output()
    err = node.log()
    # Every line of the file reached the strategy in the trader worker.
    assert "ReplayProbe-001 saw 3000 quote(s), 300 trade(s)" in err, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["mode"] == "multiprocess"
    assert summary["counters"]["quotes"] == 3000, node.output()
    assert summary["counters"]["trades"] == 300, node.output()
    assert summary["shutdown"]["clean"] is True and summary["exit_code"] == 0
    assert summary["failure"] is None
    assert summary["shutdown"]["reason"].startswith("replay finished: 3000 quotes, 300 trades")
    assert "stopping: replay finished: 3000 quotes, 300 trades" in node.lines, node.output()
    assert "replay finished: 3000 quotes, 300 trades, 2024-01-01T00:00:00.001000000Z .. " in err


def test_multiprocess_bad_line_stops_the_node_with_exit_1(
    livenode: Start, tmp_path: Path
) -> None:
    config = replay_config(tmp_path, [DATA / "generic_malformed.csv"], mode="multiprocess")
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=120) == 1, node.output()
    err = node.log()
    reason = "generic_malformed.csv:3: not a decimal number: 'abc'"
    assert "error: the node stopped because of a failure: replay failed: " in err, node.output()
    assert reason in err.split("error: the node stopped because of a failure: ", 1)[1]
    summary = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 1 and reason in summary["failure"]
    assert summary["counters"]["quotes"] == 1  # the good line before it
    assert "ReplayProbe-001 saw 1 quote(s), 0 trade(s)" in err, node.output()


def test_multiprocess_bad_line_skipped_when_configured(livenode: Start, tmp_path: Path) -> None:
    bad = tmp_path / "mixed.csv"
    lines = (DATA / "generic_quotes_trades.csv").read_text().splitlines()
    lines.insert(3, "1704067200005000000,BTCUSDT,quote,42000.10,abc,42000.20,0.7,,,,")
    bad.write_text("\n".join(lines) + "\n")
    config = replay_config(tmp_path, [bad], extra='on_bad_line = "skip"', mode="multiprocess")
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=120) == 0, node.output()
    err = node.log()
    assert "replay: skipped " in err and "mixed.csv:4: not a decimal number: 'abc'" in err
    assert "1 bad line(s) skipped" in err
    assert "ReplayProbe-001 saw 2 quote(s), 2 trade(s)" in err, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["counters"]["quotes"] == 2 and summary["exit_code"] == 0
    assert summary["failure"] is None


def test_multiprocess_restarted_data_worker_does_not_replay_the_file_again(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    # 400 quotes 1 ms apart at 1/20 of the recorded pace: 8 s, time to kill the data
    # worker in the middle (a slow host may reach the end first; either way nothing
    # is replayed twice).
    data = generated_replay(tmp_path / "slow.csv", quotes=400, trades=0)
    config = replay_config(tmp_path, [data], mode="multiprocess")
    config.write_text(config.read_text().replace("replay_speed = 0.0", "replay_speed = 0.05"))
    summary_path = tmp_path / "s.json"
    node = mp.start("run", config, "--summary-json", summary_path)
    wait_log(node, r"data-SIM: the strategies of trader subscribed", timeout=90)
    wait_log(node, r"sim venue SIM: replay started", timeout=30)
    first = mp.worker(mp.status(), "data-SIM")["pid"]
    os.kill(first, signal.SIGKILL)
    mp.wait_worker("data-SIM", lambda w: w["pid"] != first and w["state"] == "RUNNING",
                   timeout=90, what="restarted and running")
    # The restarted data worker asked again (the trader sent it StrategiesStarted again):
    # the venue process answers with the replay's state, it does not start the file over.
    again = wait_log(node, r"start_feed again: the replay is (running|finished)", timeout=60)
    assert node.wait(timeout=120) == 0, node.output()
    err = node.log()
    assert err.count("sim venue SIM: replay started") == 1, err
    assert err.count("livenode.venues.sim.feed: replay finished: 400 quotes, 0 trades") == 1
    seen = re.search(r"ReplayProbe-001 saw (\d+) quote\(s\)", err)
    assert seen is not None and int(seen.group(1)) <= 400, err
    if again.group(1) == "finished":
        assert "it is not replayed again" in err
    summary = json.loads(summary_path.read_text())
    assert summary["shutdown"]["reason"].startswith("replay finished: 400 quotes"), summary
    data_worker = next(w for w in summary["workers"] if w["name"] == "data-SIM")
    assert data_worker["restarts"] == 1


# -- §4: say what happened -------------------------------------------------------------------


@pytest.mark.parametrize("log_fills", [True, False])
def test_rejects_denials_and_fills_are_logged_with_their_reason_and_counted(
    livenode: Start, tmp_path: Path, log_fills: bool
) -> None:
    # On the first quote: SELL 0.01 fills, a post-only BUY at the ask would take (the
    # venue rejects it), BUY 0.00001 is below the min notional (risk denies it).
    config = replay_config(
        tmp_path, [DATA / "generic_quotes_trades.csv"],
        strategy='order_qtys = ["SELL 0.01", "POST 0.01", "0.00001"]',
    )
    text = config.read_text().replace(
        "[data_clients.SIM]", f"[logging]\nlog_fills = {str(log_fills).lower()}\n\n"
        "[data_clients.SIM]", 1,
    )
    config.write_text(text)
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    assert node.wait(timeout=90) == 0, node.output()
    err = node.log()
    summary = json.loads(summary_path.read_text())
    rejected = [line for line in err.splitlines() if "livenode.orders: rejected " in line]
    denied = [line for line in err.splitlines() if "livenode.orders: denied " in line]
    fills = [line for line in err.splitlines() if "livenode.orders: fill " in line]
    assert len(rejected) == 1 and " INFO " in rejected[0], err
    assert "ReplayProbe-001" in rejected[0] and "BTCUSDT.SIM: " in rejected[0]
    assert "post-only" in rejected[0].split("BTCUSDT.SIM: ", 1)[1], rejected
    assert len(denied) == 1 and "NOTIONAL_BELOW_MIN" in denied[0], err
    if log_fills:
        assert len(fills) == summary["counters"]["fills"] >= 1, err
        assert re.search(r" fill ReplayProbe-001 O-\S+ SELL 0\.01000 @ 42000\.\d\d BTCUSDT\.SIM "
                         r"\(TAKER, commission [\d.]+ USDT\)", fills[0]), fills
    else:
        assert fills == [] and summary["counters"]["fills"] >= 1
    assert sum(summary["rejections"].values()) == 1, summary["rejections"]
    (reason,) = summary["rejections"]
    assert "post-only" in reason and not any(ch.isdigit() for ch in reason), reason
    assert sum(summary["risk_denials"].values()) == 1
    assert summary["orders"]["by_status"]["rejected"] == 1
    # Every order the strategy made, the denied one included (was orders_initialized: 0).
    assert "orders_initialized" not in summary["counters"]
    assert summary["counters"]["orders_created"] == summary["orders"]["total"] >= 3
    assert any(line.startswith(f"rejections     {reason}: 1") for line in node.lines), node.output()


@pytest.mark.parametrize(("on_fault", "code"), [("fault", 1), ("continue", 0)])
def test_a_faulted_strategy_shows_in_status_summary_json_and_exit_code(
    livenode: Start, tmp_path: Path, on_fault: str, code: int
) -> None:
    config = replay_config(
        tmp_path, [DATA / "generic_quotes_trades.csv"],
        strategy=f'raise_on_quote = 2\non_fault = "{on_fault}"',
    )
    # At recorded speed, no stop at the end: the node runs on after the fault.
    config.write_text(config.read_text().replace("replay_speed = 0.0", "replay_speed = 1.0")
                      .replace("stop_at_end = true", ""))
    summary_path = tmp_path / "s.json"
    node = livenode("run", config, "--summary-json", summary_path)
    node.wait_for_line(r"^status .* FAULTED=ReplayProbe-001$", timeout=60)
    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == code, node.output()
    last_line = "RuntimeError: deliberate handler failure"
    effect = " (on_fault = continue)" if on_fault == "continue" else ""
    assert f"FAULTED        ReplayProbe-001: {last_line}{effect}" in node.lines, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["faulted_strategies"] == {
        "ReplayProbe-001": {"error": last_line, "on_fault": on_fault}
    }
    assert summary["strategy_states"]["ReplayProbe-001"]["state"] == "FAULTED"
    assert summary["exit_code"] == code
    assert summary["shutdown"]["clean"] is True
