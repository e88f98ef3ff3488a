"""The stage trace of a relay worker (real sockets): the stages of a sampled message
up to its forward send and after it, per inbound topic kind; and the busy-poll wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zmq
from tests.integration.bus.test_zmq_transport import Collector, Ping, decode, encode

from livenode.bus.stage_trace import StageTrace
from livenode.bus.zmq_transport import ZmqPublisher, ZmqSubscriber

FORWARD_STAGES = {"wire", "recv", "decode", "to_send", "send", "after_send", "turn"}


async def test_a_relay_s_sampled_messages_are_timed_stage_by_stage(
    context: zmq.Context[Any], tmp_path: Any
) -> None:
    """data -> relay -> sink: the relay forwards quotes (one frame each) and only
    counts order events. 1 message in 2 is traced."""
    loop = asyncio.get_running_loop()
    upstream = f"ipc://{tmp_path}/up"
    downstream = f"ipc://{tmp_path}/down"
    source = ZmqPublisher(context, upstream, "data", encode, loop)
    trace = StageTrace(2, loop)
    relay_out = ZmqPublisher(context, downstream, "relay", encode, loop, stage_trace=trace)
    seen: list[int] = []

    def relay(topic: str, msg: Any) -> None:
        if topic.startswith("data.quotes"):
            relay_out.publish("commands.risk", msg)
        else:
            seen.append(msg.n)

    relay_in = ZmqSubscriber(context, "relay", decode, relay, loop, stage_trace=trace)
    sink = Collector()
    sink_in = ZmqSubscriber(context, "sink", decode, sink, loop)
    try:
        relay_in.connect(upstream, ["data.", "events."])
        sink_in.connect(downstream, ["commands."])
        await relay_in.wait_joined(["data"], timeout=30)
        await sink_in.wait_joined(["relay"], timeout=30)
        for n in range(1, 41):
            assert source.publish("data.quotes.SIM.BTCUSDT", Ping(n))
        await sink.wait_for(40)
        for n in range(1, 21):
            assert source.publish("events.order.S-1", Ping(n))
        await asyncio.wait_for(_until(lambda: len(seen) == 20), 30)
        await asyncio.sleep(0)  # the `turn` stage is recorded on the next loop turn
        await asyncio.wait_for(_until(lambda: "events.order:turn" in trace.histograms), 30)

        assert [m.n for _, m in sink.messages] == list(range(1, 41))  # nothing lost
        counts = {key: h.count for key, h in trace.histograms.items()}
        quotes = {key.split(":")[1]: c for key, c in counts.items()
                  if key.startswith("data.quotes:")}
        assert quotes == dict.fromkeys(FORWARD_STAGES, 20), counts  # 40 messages, 1 in 2
        events = {key.split(":")[1]: c for key, c in counts.items()
                  if key.startswith("events.order:")}
        # A handler that sends nothing: its whole time is one `handler` stage.
        assert events == dict.fromkeys({"wire", "recv", "decode", "handler", "turn"}, 10)
        assert trace.fanout == {"data.quotes": [20, 20], "events.order": [10, 0]}
        assert not trace.active
        for key, histogram in trace.histograms.items():
            summary = histogram.summary()
            assert 0 < summary["p50"] <= summary["max"] < 60_000_000_000, (key, summary)
    finally:
        sink_in.close()
        relay_in.close()
        relay_out.close()
        source.close()


@pytest.mark.parametrize("spin_us", [0.0, 2_000_000 / 1000])
async def test_busy_poll_takes_messages_without_a_wake_up(
    context: zmq.Context[Any], endpoint: str, spin_us: float
) -> None:
    """Messages sent one at a time, each after the previous one arrived: with a spin
    window the subscriber picks (most of) them up while polling; blocking, never."""
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub", encode, loop)
    got = Collector()
    sub = ZmqSubscriber(context, "sub", decode, got, loop, spin_us=spin_us)
    try:
        sub.connect(endpoint, ["data."])
        await sub.wait_joined(["pub"], timeout=30)
        for n in range(1, 51):
            assert pub.publish("data.quotes", Ping(n))
            await got.wait_for(n)
        assert [m.n for _, m in got.messages] == list(range(1, 51))
        if spin_us:
            assert sub.spin_hits > 0
        else:
            assert sub.spin_hits == 0
    finally:
        sub.close()
        pub.close()


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.001)


async def test_a_publisher_that_yields_after_each_send_delivers_everything_in_order(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub", encode, loop, yield_after_send=True)
    got = Collector()
    sub = ZmqSubscriber(context, "sub", decode, got, loop)
    try:
        sub.connect(endpoint, ["events."])
        await sub.wait_joined(["pub"], timeout=30)
        for n in range(1, 501):
            assert pub.publish("events.order.S-1", Ping(n))
        await got.wait_for(500)
        assert [m.n for _, m in got.messages] == list(range(1, 501))
        assert pub.sent == 500 and pub.pending == 0
    finally:
        sub.close()
        pub.close()
