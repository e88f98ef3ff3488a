"""The raw IPC floor: what the node's cross-process hops cost by themselves.

The same number of cross-process hops as the multiprocess node (data -> trader:
the quote; trader -> risk and risk -> exec: the `SubmitOrder`; 3 hops, 4
processes) as a chain of blocking pyzmq PUB/SUB sockets over ipc, one frame per
message framed like the bus (``pack_frame``), carrying the same messages (a
`QuoteTick`, then a `SubmitOrder`, encoded by the node's codec; each relay decodes
and re-encodes), paced at the same rate, each process pinned to the cores the
node's worker of that role ran on. No event loop, no engines. The sink measures
from the quote's ``ts_init`` (stamped by the source when it sends) to its receipt
of the order; the first `FLOOR_WARMUP` messages are not measured.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["FLOOR_WARMUP", "raw_floor"]

FLOOR_WARMUP = 50  # messages through the chain before measuring (slow joiners, caches)


def _floor_stage(
    index: int, stages: int, endpoints: list[str], cores: list[int] | None,
    rate: float, count: int, conn: Any,
) -> None:  # pragma: no cover - runs in the spawned processes
    """One process of the chain: source (0), relays, sink (stages - 1)."""
    import msgspec
    import zmq

    from livenode.bus.zmq_transport import pack_frame, unpack_frame
    from livenode.model.codec import Codec
    from livenode.model.commands import SubmitOrder
    from livenode.model.data import QuoteTick
    from livenode.model.enums import OrderSide, OrderType
    from livenode.model.events import OrderInitialized
    from livenode.model.identifiers import (
        ClientOrderId,
        InstrumentId,
        StrategyId,
        TraderId,
    )
    from livenode.model.objects import Price, Quantity

    if cores:
        os.sched_setaffinity(0, cores)
    codec = Codec()
    encode, decode = codec.encode, codec.decode
    replace = msgspec.structs.replace
    iid = InstrumentId("BTCUSDT.SIM")
    trader, strategy = TraderId("BENCH-001"), StrategyId("QuoteReactor-001")
    order = OrderInitialized(
        trader_id=trader, strategy_id=strategy, instrument_id=iid,
        client_order_id=ClientOrderId("O-20260101-000000-001-001-1"),
        event_id="0" * 32, ts_event=0, ts_init=0, side=OrderSide.BUY,
        order_type=OrderType.LIMIT, quantity=Quantity(100, 5), price=Price(4500000, 2),
        post_only=True,
    )
    submit = SubmitOrder(
        trader_id=trader, strategy_id=strategy, command_id="0" * 32, ts_init=0,
        ts_trigger=0, order=order,
    )
    quote_topic, submit_topics = "data.quotes.SIM.BTCUSDT", ["commands.risk", "commands.exec.SIM"]
    ctx = zmq.Context()
    sub = pub = None
    if index > 0:
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(endpoints[index - 1])
    if index < stages - 1:
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.bind(endpoints[index])
    conn.send("ready")
    try:
        if index == 0:
            assert pub is not None
            conn.recv()  # go
            interval = 1.0 / rate
            total = FLOOR_WARMUP + count
            start = time.perf_counter()
            for seq in range(total + 1):
                target = start + seq * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                now = time.time_ns()
                ts = -1 if seq == total else now  # -1: end of run
                q = QuoteTick(iid, Price(5000000, 2), Price(5000001, 2),
                              Quantity(100, 5), Quantity(100, 5), now, ts)
                pub.send(pack_frame(quote_topic, "floor-0", seq + 1, encode(q)))
            conn.send("sent")
            return
        assert sub is not None
        samples: list[int] = []
        while True:
            frame = sub.recv()
            _, envelope = unpack_frame(frame)
            msg: Any = decode(envelope.payload)
            # The quote's ts_init travels on as the command's ts_trigger, as in the node.
            ts = msg.ts_init if type(msg) is QuoteTick else msg.ts_trigger
            if pub is not None:
                # The last two relays (trader, risk) send the order; any before
                # them (the data worker, behind a venue stage) pass the quote on.
                position = index - (stages - 3)
                if position < 0:
                    frame = pack_frame(quote_topic, f"floor-{index}", envelope.seq, encode(msg))
                else:
                    out = replace(submit, ts_init=time.time_ns(), ts_trigger=ts)
                    frame = pack_frame(submit_topics[position], f"floor-{index}",
                                       envelope.seq, encode(out))
                pub.send(frame)
                if ts == -1:
                    return
                continue
            if ts == -1:
                break
            now = time.time_ns()
            if envelope.seq > FLOOR_WARMUP:
                samples.append(now - ts)
        conn.send(samples)
    finally:
        for sock in (sub, pub):
            if sock is not None:
                sock.close(linger=0)
        ctx.term()


def raw_floor(
    hops: int,
    rate: float,
    count: int,
    stage_cores: list[list[int] | None] | None,
    progress: Callable[[float], None] | None = None,
) -> list[int]:
    """Latency samples (ns) of `count` messages through `hops` chained pyzmq hops, sent
    at `rate` per second; process i is pinned to ``stage_cores[i]`` (the last entry
    serves the rest; None: unpinned). `progress` gets the expected fraction done."""
    if hops < 1 or count < 1 or rate <= 0:
        raise ValueError(f"raw floor: expected hops >= 1, count >= 1, rate > 0; got "
                         f"{hops}, {count}, {rate}")
    stages = hops + 1
    run_dir = Path(tempfile.mkdtemp(prefix="livenode-floor-"))
    endpoints = [f"ipc://{run_dir}/hop{i}.ipc" for i in range(hops)]
    spawn = mp.get_context("spawn")
    pipes: list[Any] = []
    procs: list[Any] = []
    try:
        for index in range(stages):
            parent, child = spawn.Pipe()
            proc = spawn.Process(
                target=_floor_stage,
                args=(index, stages, endpoints,
                      stage_cores[min(index, len(stage_cores) - 1)] if stage_cores else None,
                      rate, count, child),
                daemon=True,
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for parent in pipes:
            if not parent.poll(30) or parent.recv() != "ready":
                raise RuntimeError("a raw-floor process did not start")
        time.sleep(0.5)  # subscriptions propagate (the warm-up messages absorb the rest)
        pipes[0].send("go")
        expected = (FLOOR_WARMUP + count) / rate
        started = time.monotonic()
        while not pipes[-1].poll(0.2):
            elapsed = time.monotonic() - started
            if progress is not None:
                progress(min(1.0, elapsed / expected))
            if elapsed > expected + 30:
                raise RuntimeError("the raw-floor chain did not finish (messages lost?)")
        samples: list[int] = pipes[-1].recv()
        for proc in procs:
            proc.join(5)
        return samples
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(1)
        shutil.rmtree(run_dir, ignore_errors=True)


