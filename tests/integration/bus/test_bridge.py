"""Two message buses joined by the bridge over real ZeroMQ sockets: components on
either side talk by topic without knowing where the other lives, and nothing echoes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import zmq

from livenode.bus.bridge import BusBridge
from livenode.bus.message_bus import MessageBus
from livenode.bus.zmq_transport import ZmqPublisher, ZmqSubscriber
from livenode.core.clock import LiveClock
from livenode.model.codec import Codec
from livenode.model.data import QuoteTick
from livenode.model.identifiers import InstrumentId, TraderId
from livenode.model.objects import Price, Quantity


def quote(n: int) -> QuoteTick:
    return QuoteTick(
        instrument_id=InstrumentId("BTCUSDT.SIM"),
        bid_price=Price.from_raw(100_00 + n, 2),
        ask_price=Price.from_raw(100_01 + n, 2),
        bid_size=Quantity.from_raw(1, 0),
        ask_size=Quantity.from_raw(1, 0),
        ts_event=n,
        ts_init=n,
    )


async def test_bridged_buses_deliver_by_topic_without_echo(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    ctx: zmq.Context[Any] = zmq.Context()
    codec = Codec()
    trader_id = TraderId("TRADER-001")
    bus_a, bus_b = MessageBus(trader_id, LiveClock(loop)), MessageBus(trader_id, LiveClock(loop))
    pub_a = ZmqPublisher(ctx, f"ipc://{tmp_path}/a.ipc", "A", codec.encode, loop)
    pub_b = ZmqPublisher(ctx, f"ipc://{tmp_path}/b.ipc", "B", codec.encode, loop)
    bridge_a = BusBridge(bus_a, pub_a, ("data.",))
    bridge_b = BusBridge(bus_b, pub_b, ("data.",))
    sub_a = ZmqSubscriber(ctx, "A", codec.decode, bridge_a.deliver, loop)
    sub_b = ZmqSubscriber(ctx, "B", codec.decode, bridge_b.deliver, loop)
    seen_a: list[QuoteTick] = []
    seen_b: list[QuoteTick] = []
    done = asyncio.Event()

    def on_b(msg: QuoteTick) -> None:
        seen_b.append(msg)
        if len(seen_b) == 100:
            done.set()

    bus_a.subscribe("data.quotes.*", seen_a.append)
    bus_b.subscribe("data.quotes.*", on_b)
    try:
        sub_a.connect(pub_b.endpoint, ["data."])
        sub_b.connect(pub_a.endpoint, ["data."])
        await sub_a.wait_joined(["B"], 30)
        await sub_b.wait_joined(["A"], 30)
        for n in range(100):
            bus_a.publish("data.quotes.SIM.BTCUSDT", quote(n))
        await asyncio.wait_for(done.wait(), 30)
        assert seen_b == [quote(n) for n in range(100)]
        # A's own handler saw its messages once; B did not send them back.
        assert seen_a == [quote(n) for n in range(100)]
        assert pub_b.sent == 0 and bridge_a.received == 0
        assert sub_b.gaps == 0 and sub_b.malformed == 0
    finally:
        for closable in (bridge_a, bridge_b, sub_a, sub_b, pub_a, pub_b):
            closable.close()
        ctx.term()
    assert not list(tmp_path.glob("*.ipc"))


async def test_held_topics_wait_for_release_and_keep_their_order(tmp_path: Path) -> None:
    """A worker whose state is incomplete holds commands: they reach its handlers only
    at `release`, in the order they arrived; other topics pass at once."""
    loop = asyncio.get_running_loop()
    ctx: zmq.Context[Any] = zmq.Context()
    bus = MessageBus(TraderId("TRADER-001"), LiveClock(loop))
    pub = ZmqPublisher(ctx, f"ipc://{tmp_path}/h.ipc", "H", Codec().encode, loop)
    bridge = BusBridge(bus, pub, ())
    got: list[tuple[str, int]] = []
    bus.subscribe("commands.*", lambda m: got.append(("cmd", m.ts_event)))
    bus.subscribe("data.*", lambda m: got.append(("data", m.ts_event)))
    try:
        bridge.hold(("commands.",))
        bridge.deliver("commands.risk", quote(1))
        bridge.deliver("data.quotes.SIM.BTCUSDT", quote(2))
        bridge.deliver("commands.risk", quote(3))
        assert got == [("data", 2)]
        assert bridge.release() == 2
        assert got == [("data", 2), ("cmd", 1), ("cmd", 3)]
        bridge.deliver("commands.risk", quote(4))  # no longer held
        assert got[-1] == ("cmd", 4)
    finally:
        bridge.close()
        pub.close()
        ctx.term()
