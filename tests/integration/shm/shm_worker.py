"""Helper process for the shared-memory integration tests (not a test module).

Usage: python shm_worker.py MODE PREFIX [ARGS...]. Every mode talks to the test
through stdout lines and waits on stdin (never on sleeps):

- `read PREFIX INSTRUMENT`: attach, print the quote's bid raw, exit.
- `writer PREFIX INSTRUMENT`: attach, write quotes with an invariant as fast as
  it can, print "ready" after the first write, stop when stdin closes, print
  "wrote N".
- `reader PREFIX INSTRUMENT COUNT`: attach, read COUNT times checking the
  invariant, print "result reads violations retries distinct stale".
- `hold PREFIX INSTRUMENT`: attach, write one quote, then leave the row odd
  (a writer dying mid-write), print "held ROW", wait for stdin to close.
- `node TRADER INSTANCE INSTRUMENT`: create the tables as their owner, print
  "ready", wait for stdin to close, unlink.
- `stale-read PREFIX INSTRUMENT`: attach, read once; print "stale PID" or "ok".
"""

from __future__ import annotations

import sys
import threading
import time

from livenode.cache.shm import ShmTables, StaleRowError
from livenode.model.identifiers import InstrumentId

SPREAD = 7


def expected_sizes(bid: int) -> tuple[int, int]:
    """The sizes the torture writer stores with `bid` (the invariant readers check)."""
    return (bid * 31 + 5) % 1_000_003, bid ^ 0x5A5A5A


def _stdin_closed() -> threading.Event:
    done = threading.Event()

    def wait() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    return done


def writer(prefix: str, instrument: str) -> None:
    with ShmTables.attach(prefix) as tables:
        row = tables.instruments.row_of(InstrumentId(instrument))
        write = tables.quotes.write_raw
        done = _stdin_closed()
        bid = 1_000_000
        write(row, bid, bid + SPREAD, *expected_sizes(bid), bid, bid)
        print("ready", flush=True)
        while not done.is_set():
            for _ in range(1000):
                bid += 1
                bsz, asz = expected_sizes(bid)
                write(row, bid, bid + SPREAD, bsz, asz, bid, bid)
        print(f"wrote {bid - 1_000_000}", flush=True)


def reader(prefix: str, instrument: str, count: int) -> None:
    with ShmTables.attach(prefix) as tables:
        row = tables.instruments.row_of(InstrumentId(instrument))
        read = tables.quotes.read_raw
        violations = stale = 0
        last = distinct = 0
        for _ in range(count):
            try:
                v = read(row)
            except StaleRowError:
                stale += 1
                continue
            bid, ask, bsz, asz, ts_event, ts_init = v  # type: ignore[misc]
            if (
                ask != bid + SPREAD
                or (bsz, asz) != expected_sizes(bid)
                or ts_event != bid
                or ts_init != bid
            ):
                violations += 1
            if bid != last:
                distinct += 1
                last = bid
        retries = tables.quotes.rows.retries
        print(f"result {count} {violations} {retries} {distinct} {stale}", flush=True)


def hold(prefix: str, instrument: str) -> None:
    tables = ShmTables.attach(prefix)
    row = tables.instruments.row_of(InstrumentId(instrument))
    tables.quotes.write_raw(row, 100, 107, 1, 1, 1, 1)
    tables.quotes.rows._begin_write(row)
    print(f"held {row}", flush=True)
    sys.stdin.read()  # killed here by the test


def node(trader: str, instance: str, instrument: str) -> None:
    with ShmTables.create(trader, instance, instruments=[(InstrumentId(instrument), 2, 3)]):
        print("ready", flush=True)
        sys.stdin.read()


def read_once(prefix: str, instrument: str) -> None:
    with ShmTables.attach(prefix, stale_timeout_ns=2_000_000_000) as tables:
        start = time.monotonic()
        try:
            quote = tables.quotes.read(InstrumentId(instrument))
        except StaleRowError as e:
            print(f"stale {e.writer_pid} {time.monotonic() - start:.3f}", flush=True)
            return
        print(f"ok {None if quote is None else quote.bid_price.raw}", flush=True)


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "read":
        with ShmTables.attach(args[0]) as tables:
            quote = tables.quotes.read(InstrumentId(args[1]))
            print(None if quote is None else quote.bid_price.raw, flush=True)
    elif mode == "writer":
        writer(args[0], args[1])
    elif mode == "reader":
        reader(args[0], args[1], int(args[2]))
    elif mode == "hold":
        hold(args[0], args[1])
    elif mode == "node":
        node(args[0], args[1], args[2])
    elif mode == "stale-read":
        read_once(args[0], args[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
