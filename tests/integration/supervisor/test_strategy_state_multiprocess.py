"""Strategy state in a multiprocess node: the trader worker saves and loads it over
a connection of its own to the node's database (the exec worker owns the rest).

Two runs of `livenode run` on one database (a SQLite file, a Redis server): the
first counts quotes and is stopped with SIGINT, the second loads the first's
count (run 2, total above the first's) and saves its own at its stop.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fixtures.database.redis_server import RedisServer
from tests.fixtures.multiprocess.harness import MultiprocessHarness, wait_log

from livenode.config import load_config
from livenode.node.database import build_cache_database

COUNTER = "tests.fixtures.database.strategies:QuoteCounter"
REACHED = r"QuoteCounter-001: target reached: run (\d+), total (\d+)"


@pytest.fixture(params=["sqlite", "redis"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The `[cache.database]` lines of each backend (a real redis-server for redis)."""
    if request.param == "sqlite":
        yield f'type = "sqlite"\npath = "{tmp_path / "node.sqlite"}"\n'
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield f'type = "redis"\nport = {server.port}\n'
    finally:
        server.stop()


def _overlay(tmp_path: Path, database: str, name: str, flush: bool) -> Path:
    path = tmp_path / name
    path.write_text(
        'trader_id = "MPSTATE-001"\n'
        f"[cache.database]\n{database}"
        f"flush_on_start = {'true' if flush else 'false'}\n"
        f'[[strategies]]\npath = "{COUNTER}"\nconfig_path = "{COUNTER}Config"\n'
        "[strategies.config]\nmanage_stop = false\ntarget = 20\n"
    )
    return path


def _stored(config_path: Path) -> dict[str, dict[str, bytes]]:
    database = build_cache_database(load_config(config_path))
    try:
        return database.open().strategies
    finally:
        database.close()


def _run(mp: MultiprocessHarness, config: Path) -> tuple[int, int]:
    node = mp.start("run", config)
    reached = wait_log(node, REACHED, timeout=60)
    node.send(signal.SIGINT)
    code = node.wait(timeout=90)
    assert code == 0, node.output()
    return int(reached.group(1)), int(reached.group(2))


def test_the_trader_worker_saves_and_loads_strategy_state(
    mp: MultiprocessHarness, tmp_path: Path, database: str,
) -> None:
    first_config = mp.config(str(_overlay(tmp_path, database, "first.toml", flush=True)),
                             name="n1.toml")
    run, _ = _run(mp, first_config)
    assert run == 1
    first = _stored(first_config)["QuoteCounter-001"]
    assert first["runs"] == b"1"
    first_total = int(first["total"])

    second_config = mp.config(str(_overlay(tmp_path, database, "second.toml", flush=False)),
                              name="n2.toml")
    run, total = _run(mp, second_config)
    assert run == 2
    assert total > first_total  # counted on from the loaded total
    assert re.search(r"QuoteCounter-001: loading saved state", mp.nodes[-1].log())
    second = _stored(second_config)["QuoteCounter-001"]
    assert second["runs"] == b"2" and int(second["total"]) >= total
