"""The cache database's health is measured, not assumed (issue 17), with a real
redis-server under a trading node run as `livenode run` (sandbox, sim venue with a
state file to compare the books with), in both modes: the single process, and the
multiprocess exec worker, which owns the database there.

1. redis-server SIGSTOPped for longer than the configured timeout: the node says the
   database is down within the timeout + a few seconds (log, status line), trading is
   restricted per ``on_failure``; after SIGCONT the writes catch up, trading resumes,
   and the run ends with exit 0, its durable books adding up and equal to the venue's.
2. redis-server shut down without saving and started again empty on the same port:
   the node sees at the reconnect that the database no longer holds its state,
   rewrites it from memory, trades on, and ends with exit 0; the database read back
   afterwards holds every fill once and the node's books equal the venue's.
3. The same loss when the node no longer holds its whole history (closed orders
   purged from memory): it halts trading with the reason, writes nothing more (no
   half history in the database), and the run ends with exit 1, never "clean".

Every wait is on an event (a log line, a status line, a pid); the teardown of the
multiprocess harness fails the test on any process, run directory or shared-memory
segment left behind, and the redis-server is stopped by its pid.
"""

from __future__ import annotations

import json
import re
import signal
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from tests.acceptance.helpers import SANDBOX, LivenodeProcess
from tests.fixtures.database.redis_server import RedisServer
from tests.fixtures.multiprocess.books import assert_books_match, venue_books
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    compose_config,
    wait_fills_above,
    wait_fills_increase,
    wait_log,
    wait_pids_gone,
)

from livenode.cache.database import CacheDatabase, RedisBackend
from livenode.model.codec import Codec
from livenode.model.events import OrderFilled

pytestmark = pytest.mark.slow

# The database's timeouts in these runs (seconds): a write not done within this is
# a failure, and the node must say so within it + a few seconds.
TIMEOUT = 1.0
DETECTION_SLACK = 3.0
MODES = ["single", "multiprocess"]


def _start(mp: MultiprocessHarness, tmp_path: Path, mode: str, redis: RedisServer,
           on_failure: str, extra: str = "") -> tuple[LivenodeProcess, Path, Path]:
    """`livenode run` in `mode` on `redis`; returns the node, its summary and venue
    state paths, once it trades."""
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "database.toml"
    overlay.write_text(
        f'trader_id = "DBHEALTH{"MP" if mode == "multiprocess" else ""}-001"\n'
        "status_interval = 0.5\n"
        "[cache.database]\n"
        f'type = "redis"\nhost = "127.0.0.1"\nport = {redis.port}\n'
        f"connect_timeout = {TIMEOUT}\nsocket_timeout = {TIMEOUT}\n"
        f'retry_interval = 0.2\ncheck_interval = 1.0\non_failure = "{on_failure}"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n' + extra)
    if mode == "multiprocess":
        config = mp.config("stop_all.toml", str(overlay))
    else:
        config = compose_config(tmp_path / "node.toml", str(overlay), base=SANDBOX)
        doc = tomllib.loads(config.read_text())
        assert doc["mode"] == "single"
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", config, "--summary-json", summary_path)
    started = (r"^node \S+ RUNNING \(4 workers\)$" if mode == "multiprocess"
               else r"^running \(Ctrl-C to stop\)$")
    node.wait_for_line(started, timeout=90)
    # Enough trading that the state holds flips and closed cycles.
    wait_fills_above(node, 20, timeout=90)
    return node, summary_path, state


def _stop(mp: MultiprocessHarness, node: LivenodeProcess, summary_path: Path,
          mode: str) -> dict[str, Any]:
    node.send(signal.SIGINT)
    code = node.wait(timeout=120)
    assert code == 0, node.output()
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 0 and summary["shutdown"]["clean"], summary["shutdown"]
    assert summary["errors"] == [], summary["errors"]
    assert summary["durable_source"].startswith("redis://")
    if mode == "multiprocess":
        wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=15, what="worker pids")
    return summary


def _stored_fills(redis: RedisServer, trader_id: str) -> list[OrderFilled]:
    """Every fill as stored, raw (not de-duplicated by the loader)."""
    backend = RedisBackend(trader_id, port=redis.port)
    backend.open()
    try:
        codec = Codec()
        events = [codec.decode(payload) for payload in backend.load().order_events]
    finally:
        backend.close()
    return [e for e in events if type(e) is OrderFilled]


@pytest.mark.parametrize("mode", MODES)
def test_a_hung_redis_is_seen_down_within_its_timeout_then_trading_resumes(
    mp: MultiprocessHarness, tmp_path: Path, mode: str
) -> None:
    on_failure = "HALTED" if mode == "single" else "REDUCING"
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        node, summary_path, state = _start(mp, tmp_path, mode, redis, on_failure)
        redis.pause()
        paused_at = time.monotonic()
        try:
            wait_log(node, r"cache database unavailable", timeout=TIMEOUT + 30)
            detected = time.monotonic() - paused_at
            print(f"\n{mode}: SIGSTOP seen in {detected:.2f}s (timeout {TIMEOUT:g}s)")
            assert detected < TIMEOUT + DETECTION_SLACK, detected
            wait_log(node, rf"ExecutionEngine: trading {on_failure}: cache database "
                              r"unavailable", timeout=30)
            node.wait_for_line(rf"^status .* db=DOWN\({on_failure}\) pending=\d+", timeout=30)
            # Stopped well past its timeout: the node stays down, keeps the writes.
            line = node.wait_for_line(rf"^status .* db=DOWN\({on_failure}\) pending=(\d+)",
                                      timeout=30)
            assert int(line.group(1)) > 0
            if on_failure == "HALTED":
                wait_log(node, r"denied \S+: DATABASE_UNAVAILABLE", timeout=30)
        finally:
            redis.resume()
        wait_log(node, r"cache database caught up; trading resumes", timeout=60)
        node.wait_for_line(r"^status .* db=ok", timeout=30)
        wait_fills_increase(node, timeout=60)
        summary = _stop(mp, node, summary_path, mode)
        database = summary["database"]
        assert database["state"] == "ok" and database["failures"] >= 1
        assert database["losses"] == 0 and database["pending"] == 0
        assert_books_match(summary, state)
        assert not re.search(r"lost this process's state", node.log())
    finally:
        redis.stop()


@pytest.mark.parametrize("mode", MODES)
def test_a_redis_restarted_empty_is_seen_at_the_reconnect_and_rewritten_whole(
    mp: MultiprocessHarness, tmp_path: Path, mode: str
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        node, summary_path, state = _start(mp, tmp_path, mode, redis, "HALTED")
        redis.shutdown_nosave()
        redis.start_empty()
        wait_log(node, r"cache database lost this node's state: .*run marker exec:SIM "
                          r".* is gone", timeout=60)
        wait_log(node, r"lost this process's state .*: rewriting it from memory: "
                          r"\d+ instrument\(s\), \d+ account\(s\), \d+ order\(s\)", timeout=60)
        wait_log(node, r"this node's state rewritten \(\d+ write\(s\)\)", timeout=60)
        wait_log(node, r"cache database caught up; trading resumes", timeout=60)
        node.wait_for_line(r"^status .* db=ok", timeout=30)
        wait_fills_increase(node, timeout=60)
        summary = _stop(mp, node, summary_path, mode)
        database = summary["database"]
        assert (database["state"], database["losses"], database["rewrites"]) == ("ok", 1, 1)
        assert database["rewritten"] > 0
        assert any(line.startswith("database       lost this node's state 1 time(s)")
                   for line in node.lines), node.output()
        assert_books_match(summary, state)
        # Read back: the database holds the whole history again, every fill once,
        # the same fills as the node's books and the venue's.
        stored = _stored_fills(redis, summary["trader_id"])
        trade_ids = [str(f.trade_id) for f in stored]
        assert len(trade_ids) == len(set(trade_ids)), "a fill stored twice"
        assert sorted(trade_ids) == sorted(f["trade_id"] for f in summary["fills"])
        assert sorted(trade_ids) == sorted(venue_books(state)["trade_ids"])
        reread = CacheDatabase(RedisBackend(summary["trader_id"], port=redis.port))
        try:
            orders = {e.client_order_id for e in reread.open().order_events}
        finally:
            reread.close()
        assert summary["orders"]["total"] == len(orders)
    finally:
        redis.stop()


def test_a_loss_the_node_cannot_rewrite_halts_it_and_fails_the_run(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        # Two closed orders kept in memory: the history is gone from the cache soon.
        node, summary_path, _state = _start(mp, tmp_path, "single", redis, "REDUCING",
                                            "[cache]\nmax_closed_orders = 2\n")
        redis.shutdown_nosave()
        redis.start_empty()
        wait_log(node, r"lost this process's state \(.*\) and it is not rewritten: \d+ "
                          r"closed order\(s\) were purged from memory", timeout=60)
        # HALTED, although on_failure says REDUCING: nothing it does would be durable.
        wait_log(node, r"ExecutionEngine: trading HALTED: the cache database", timeout=30)
        node.wait_for_line(r"^status .* db=LOST\(HALTED\)", timeout=30)
        node.send(signal.SIGINT)
        assert node.wait(timeout=120) == 1, node.output()
        summary = json.loads(summary_path.read_text())
        assert summary["exit_code"] == 1 and not summary["shutdown"]["clean"]
        assert summary["database"]["state"] == "halted"
        assert any(e.startswith("the cache database lost this node's state and it was not "
                                "rewritten") for e in summary["errors"]), summary["errors"]
        assert any("NOT rewritten" in line for line in node.lines), node.output()
        # Nothing written after the loss: the database holds no half history.
        assert _stored_fills(redis, summary["trader_id"]) == []
    finally:
        redis.stop()
