"""Redis stopped under a trading multiprocess node, then started again: the node
degrades visibly (new orders denied, the status line says so), keeps what it could
not write, catches up when Redis is back, trades on, and its books (read back from
Redis after the stop) equal the venue's."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import pytest
from tests.fixtures.database.redis_server import RedisServer
from tests.fixtures.multiprocess.books import assert_books_match, assert_no_order_sent_twice
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    wait_fills_above,
    wait_fills_increase,
    wait_log,
    wait_pids_gone,
)

pytestmark = pytest.mark.slow


def test_redis_outage_under_a_multiprocess_node_degrades_then_recovers_losing_nothing(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        state = tmp_path / "venue.sqlite"
        overlay = tmp_path / "redis.toml"
        overlay.write_text(
            "[cache.database]\n"
            f'type = "redis"\nhost = "127.0.0.1"\nport = {redis.port}\n'
            "connect_timeout = 0.5\nsocket_timeout = 0.5\nretry_interval = 0.2\n"
            f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
        )
        summary_path = tmp_path / "run.summary.json"
        node = mp.start("run", mp.config("restart_all.toml", overlay), "--summary-json",
                        summary_path)
        node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
        wait_fills_above(node, 2, timeout=60)

        redis.stop()
        node.wait_for_line(r"^status .* db=DOWN\(HALTED\) pending=\d+", timeout=60)
        wait_log(node, r"trading HALTED: cache database unavailable", timeout=60)
        # Degraded, visibly: new orders are denied while the writes wait.
        wait_log(node, r"ExecutionEngine: denied \S+: DATABASE_UNAVAILABLE", timeout=60)
        redis.start()
        wait_log(node, r"cache database caught up; trading resumes", timeout=60)
        node.wait_for_line(r"^status .* db=ok", timeout=60)
        wait_fills_increase(node, timeout=60)

        node.send(signal.SIGINT)
        code = node.wait(timeout=90)
        assert code == 0, node.output()
        summary = json.loads(summary_path.read_text())
        assert summary["durable_source"].startswith("redis://")
        assert summary["errors"] == []
        assert_books_match(summary, state)
        assert_no_order_sent_twice(summary, state, node.log())
        assert not re.findall(r"invalid transition (?:DENIED|REJECTED) -> Order\w+",
                              node.log())
        wait_pids_gone([w["pid"] for w in summary["workers"]], timeout=10, what="worker pids")
    finally:
        redis.stop()
