"""Shared-memory tables: read cost vs a bus round-trip, and write→visible latency.

Run: `.venv/bin/python benchmarks/bench_shm.py [--reads N] [--samples N]`

1. Consistent read of one quote row (`read_raw`, and `read` decoding a
   `QuoteTick`), ns per read: batches of 1000 reads timed with
   `perf_counter_ns`, percentiles over the batches.
2. The same fact over the bus: a REQ/REP round trip to another process that
   answers with the msgspec-encoded latest quote (ipc transport), decoded by
   the requester. Percentiles per round trip; the ratio to (1) is the point.
3. Write→visible across processes: a writer process stamps `time.monotonic_ns()`
   into the row (ts_event) every ~50 us; a reader process spins on the row's seq
   and records now - stamp. Percentiles in ns.

Numbers drift 2x run to run on shared 2-core hosts: compare within one run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
import uuid

import msgspec
import zmq

from livenode.cache.shm import ShmTables
from livenode.model.codec import decode, encode
from livenode.model.data import QuoteTick
from livenode.model.identifiers import InstrumentId
from livenode.model.objects import Price, Quantity

BTC = InstrumentId("BTCUSDT.SIM")
PCTS = (50.0, 90.0, 99.0, 99.9, 100.0)


def percentiles(values: list[float]) -> list[float]:
    """p50/p90/p99/p99.9/max of `values` (nearest rank)."""
    s = sorted(values)
    return [s[min(len(s) - 1, int(len(s) * p / 100.0))] for p in PCTS]


def quote(bid: int, ts: int) -> QuoteTick:
    return QuoteTick(BTC, Price(bid, 2), Price(bid + 7, 2), Quantity(1000, 3), Quantity(2000, 3), ts, ts)


def bench_reads(tables: ShmTables, reads: int) -> tuple[list[float], list[float]]:
    row = tables.instruments.row_of(BTC)
    read_raw = tables.quotes.read_raw
    read = tables.quotes.read
    raw, typed = [], []
    for _ in range(max(1, reads // 1000)):
        t0 = time.perf_counter_ns()
        for _ in range(1000):
            read_raw(row)
        raw.append((time.perf_counter_ns() - t0) / 1000)
    for _ in range(max(1, reads // 10_000)):
        t0 = time.perf_counter_ns()
        for _ in range(1000):
            read(BTC)
        typed.append((time.perf_counter_ns() - t0) / 1000)
    return raw, typed


def _rep_server(endpoint: str, ready: mp.Event) -> None:  # type: ignore[valid-type]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind(endpoint)
    latest = encode(quote(100_000, time.time_ns()))
    ready.set()  # type: ignore[attr-defined]
    while True:
        msg = sock.recv()
        if msg == b"stop":
            sock.send(b"")
            break
        sock.send(latest)
    sock.close(linger=0)
    ctx.term()


def bench_bus(samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as d:
        endpoint = f"ipc://{d}/q.sock"
        spawn = mp.get_context("spawn")
        ready = spawn.Event()
        server = spawn.Process(target=_rep_server, args=(endpoint, ready))
        server.start()
        ready.wait(30)
        ctx = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.connect(endpoint)
        key = BTC.value.encode()
        out = []
        for i in range(samples + 500):
            t0 = time.perf_counter_ns()
            sock.send(key)
            q = decode(sock.recv())
            dt = time.perf_counter_ns() - t0
            assert isinstance(q, QuoteTick)
            if i >= 500:  # warm-up
                out.append(float(dt))
        sock.send(b"stop")
        sock.recv()
        sock.close(linger=0)
        ctx.term()
        server.join(30)
    return out


def _writer(prefix: str, stop: mp.Event, period_ns: int) -> None:  # type: ignore[valid-type]
    with ShmTables.attach(prefix) as tables:
        row = tables.instruments.row_of(BTC)
        write = tables.quotes.write_raw
        bid = 1
        while not stop.is_set():  # type: ignore[attr-defined]
            now = time.monotonic_ns()
            write(row, bid, bid + 7, 1, 1, now, now)
            bid += 1
            deadline = now + period_ns
            while time.monotonic_ns() < deadline:
                pass


def _reader(prefix: str, samples: int, conn: mp.connection.Connection) -> None:  # type: ignore[name-defined]
    with ShmTables.attach(prefix) as tables:
        row = tables.instruments.row_of(BTC)
        seq = tables.quotes.rows.seq
        read_raw = tables.quotes.read_raw
        last = seq(row)
        out = []
        while len(out) < samples:
            s = seq(row)
            if s == last or s & 1:
                continue
            v = read_raw(row)
            now = time.monotonic_ns()
            last = seq(row)
            if v is not None:
                out.append(float(now - v[4]))
        conn.send(out)


def bench_visibility(tables: ShmTables, samples: int) -> list[float]:
    spawn = mp.get_context("spawn")
    stop = spawn.Event()
    parent, child = spawn.Pipe()
    reader = spawn.Process(target=_reader, args=(tables.prefix, samples, child))
    writer = spawn.Process(target=_writer, args=(tables.prefix, stop, 50_000))
    reader.start()
    writer.start()
    out = parent.recv()
    stop.set()
    writer.join(30)
    reader.join(30)
    return out[len(out) // 20 :]  # drop the warm-up twentieth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=20_000)
    args = ap.parse_args()
    trader = f"BENCH{uuid.uuid4().hex[:8].upper()}-001"
    with ShmTables.create(trader, str(os.getpid()), instruments=[(BTC, 2, 3)]) as owner:
        owner.quotes.write(quote(100_000, time.time_ns()))
        with ShmTables.attach(owner.prefix) as worker:
            raw, typed = bench_reads(worker, args.reads)
        bus = bench_bus(args.samples)
        vis = bench_visibility(owner, args.samples)
    rows = [
        ("shm read_raw (ns/read)", percentiles(raw)),
        ("shm read -> QuoteTick (ns/read)", percentiles(typed)),
        ("bus REQ/REP round trip (ns)", percentiles(bus)),
        ("shm write->visible x-proc (ns)", percentiles(vis)),
    ]
    print(f"{'measure':34}" + "".join(f"{'p' + format(p, 'g') if p < 100 else 'max':>12}" for p in PCTS))
    for name, ps in rows:
        print(f"{name:34}" + "".join(f"{v:12,.0f}" for v in ps))
    print(f"ratio bus round trip / shm read_raw at p50: {percentiles(bus)[0] / percentiles(raw)[0]:.0f}x")
    print(f"ratio bus round trip / shm read (decoded) at p50: {percentiles(bus)[0] / percentiles(typed)[0]:.0f}x")
    print(msgspec.json.encode({"cpus": os.cpu_count(), "reads": args.reads, "samples": args.samples}).decode())


if __name__ == "__main__":
    main()
