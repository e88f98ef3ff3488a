"""The cache database writer: sustained order events per second, per backend.

    .venv/bin/python benchmarks/bench_database.py [--events 50000] [--redis-port PORT]

For each backend (SQLite in a temporary file; Redis on ``--redis-port``, else a
``redis-server`` this script starts on a free loopback port and kills after) it
queues ``--events`` order events (the mix a filled order makes: initialized,
submitted, accepted, filled) as the execution engine does, and reports:

- the cost of one ``put_order_event`` on the caller's thread (what the event loop
  pays), as percentiles of batches of 100 calls;
- how many events per second the writer thread made durable (queue to written).

Each backend runs twice: with the run marker the node's execution engine writes with
(every batch checked and counted in the same transaction: one Lua script on Redis),
and without it (``no marker``: plain transactions, as the adapters' key-value writes).

Load average is printed with the result: compare runs by their ratio, not times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from livenode.cache.database import CacheDatabase, DatabaseBackend, RedisBackend, SqliteBackend
from livenode.core.uuid import new_id
from livenode.model.enums import LiquiditySide, OrderSide, OrderType
from livenode.model.events import OrderAccepted, OrderFilled, OrderInitialized, OrderSubmitted
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    VenueOrderId,
)
from livenode.model.objects import Currency, Money, Price, Quantity

IID = InstrumentId.from_str("BTCUSDT.SIM")
USDT = Currency.from_str("USDT")


def _order_events(n: int) -> list[Any]:
    events: list[Any] = []
    trader, strategy, account = TraderId("BENCH-001"), StrategyId("S-001"), AccountId("SIM-001")
    for i in range((n + 3) // 4):
        coid = ClientOrderId(f"O-{i}")
        common: dict[str, Any] = dict(trader_id=trader, strategy_id=strategy, instrument_id=IID,
                                      client_order_id=coid, ts_event=i, ts_init=i)
        init = OrderInitialized(side=OrderSide.BUY, order_type=OrderType.LIMIT,
                                quantity=Quantity.from_str("0.010"),
                                price=Price.from_str("50000.00"), event_id=new_id(), **common)
        events += [
            init,
            OrderSubmitted(account_id=account, event_id=new_id(), **common),
            OrderAccepted(venue_order_id=VenueOrderId(f"V-{i}"), account_id=account,
                          event_id=new_id(), **common),
            OrderFilled(venue_order_id=VenueOrderId(f"V-{i}"), account_id=account,
                        trade_id=TradeId(f"T-{i}"), order_side=OrderSide.BUY,
                        order_type=OrderType.LIMIT, last_qty=Quantity.from_str("0.010"),
                        last_px=Price.from_str("50000.00"), currency=USDT,
                        commission=Money.new("0.05", USDT),
                        liquidity_side=LiquiditySide.MAKER, event_id=new_id(), **common),
        ]
    return events[:n]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(backend: DatabaseBackend, events: list[Any], marker: bool) -> dict[str, float]:
    db = CacheDatabase(backend)
    if marker:
        db.use_marker("exec:BENCH", "bench")
    db.open(flush=True)
    per_call: list[float] = []
    started = time.perf_counter()
    for i in range(0, len(events), 100):
        chunk = events[i:i + 100]
        t0 = time.perf_counter_ns()
        for event in chunk:
            db.put_order_event(event)
        per_call.append((time.perf_counter_ns() - t0) / len(chunk))
    queued = time.perf_counter()
    assert db.wait_written(300), "writer did not finish"
    done = time.perf_counter()
    db.close()
    return {
        "events": len(events),
        "put_p50_ns": _percentile(per_call, 0.50),
        "put_p99_ns": _percentile(per_call, 0.99),
        "queue_seconds": queued - started,
        "durable_events_per_s": len(events) / (done - started),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found (apt-get install redis-server), "
                         "or pass --redis-port")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            return process, port
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("redis-server did not start") from None
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--redis-port", type=int, default=None)
    args = parser.parse_args()
    events = _order_events(args.events)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}, {os.cpu_count()} cpus, {len(events)} order events")
    with tempfile.TemporaryDirectory(prefix="ln-bench-db-") as tmp:
        server = None
        port = args.redis_port
        if port is None:
            server, port = _start_redis(Path(tmp))
        try:
            for name, make in (
                ("sqlite", lambda: SqliteBackend("BENCH-001", Path(tmp) / "bench.sqlite")),
                ("redis", lambda: RedisBackend("BENCH-001", port=port)),
            ):
                for marker in (True, False):
                    r = measure(make(), events, marker)
                    label = name if marker else f"{name} (no marker)"
                    print(f"{label:<19} put p50 {r['put_p50_ns']:7.0f} ns  p99 "
                          f"{r['put_p99_ns']:7.0f} ns   durable "
                          f"{r['durable_events_per_s']:9.0f} events/s")
        finally:
            if server is not None:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
