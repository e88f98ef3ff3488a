"""The ZeroMQ bus transport over real sockets: order, prefix filtering, handshake,
malformed frames, back-pressure, and a publisher in another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from livenode.bus.zmq_transport import (
    FrameError,
    ZmqPublisher,
    ZmqSubscriber,
    pack_frame,
    unpack_frame,
)


class Ping(msgspec.Struct, frozen=True, array_like=True):
    n: int
    body: str = ""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Ping)


def encode(msg: Any) -> bytes:
    return _encoder.encode(msg)


def decode(data: bytes) -> Ping:
    try:
        return _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(str(exc)) from exc


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.event = asyncio.Event()
        self.want = 0

    def __call__(self, topic: str, msg: Any) -> None:
        self.messages.append((topic, msg))
        if len(self.messages) >= self.want:
            self.event.set()

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        self.want = count
        if len(self.messages) >= count:
            return
        self.event.clear()
        await asyncio.wait_for(self.event.wait(), timeout)


def test_frame_round_trip_and_errors() -> None:
    frame = pack_frame("data.quotes.SIM.BTCUSDT", "data-0", 7, encode(Ping(1)))
    topic, envelope = unpack_frame(frame)
    assert topic == "data.quotes.SIM.BTCUSDT"
    assert (envelope.publisher, envelope.seq) == ("data-0", 7)
    assert decode(envelope.payload) == Ping(1)
    with pytest.raises(FrameError, match="no topic separator"):
        unpack_frame(b"no-separator-here")
    with pytest.raises(FrameError, match="bad envelope on topic b'x'"):
        unpack_frame(b"x\x00\xff\xfe")


async def test_messages_arrive_in_order_after_handshake(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub-A", encode, loop)
    got = Collector()
    sub = ZmqSubscriber(context, "sub-1", decode, got, loop)
    try:
        sub.connect(endpoint, ["events.order."])
        await sub.wait_joined(["pub-A"], timeout=30)
        for n in range(1, 2001):
            assert pub.publish("events.order.S-1", Ping(n))
        await got.wait_for(2000)
        assert [m.n for _, m in got.messages] == list(range(1, 2001))
        assert sub.gaps == 0 and sub.malformed == 0 and sub.received == 2000
        assert "events.order." in pub.subscriptions
    finally:
        sub.close()
        pub.close()


async def test_prefix_filtering_sees_only_subscribed_topics_without_false_gaps(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub-A", encode, loop)
    got = Collector()
    sub = ZmqSubscriber(context, "sub-1", decode, got, loop)
    try:
        sub.connect(endpoint, ["data.quotes.SIM.BTC"])
        await sub.wait_joined(["pub-A"], timeout=30)
        for n in range(300):
            pub.publish("data.quotes.SIM.ETHUSDT", Ping(n), droppable=True)
            pub.publish("data.quotes.SIM.BTCUSDT", Ping(n), droppable=True)
        await got.wait_for(300)
        assert {t for t, _ in got.messages} == {"data.quotes.SIM.BTCUSDT"}
        assert sub.gaps == 0
    finally:
        sub.close()
        pub.close()


async def test_malformed_frames_are_counted_and_dropped(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    raw = context.socket(zmq.XPUB)
    raw.setsockopt(zmq.LINGER, 0)
    raw.bind(endpoint)
    got = Collector()
    sub = ZmqSubscriber(context, "sub-1", decode, got, loop)
    try:
        sub.connect(endpoint, [""])
        raw.recv()  # the first subscription reached the publisher
        bad_frames = [
            b"no separator",
            b"t\x00garbage",
            b"t\x00" + msgspec.msgpack.encode(["p", "not-an-int", 0, b""]),
            pack_frame("t", "p", 1, b"\xc1"),  # valid envelope, payload not msgpack
            pack_frame("t", "p", 2, encode({"n": "x"})),  # wrong payload shape
        ]
        for frame in bad_frames:
            raw.send(frame)
        raw.send(pack_frame("t", "p", 3, encode(Ping(42))))
        await got.wait_for(1)
        assert got.messages == [("t", Ping(42))]
        assert sub.malformed == len(bad_frames)
    finally:
        sub.close()
        raw.close(linger=0)
        Path(endpoint.removeprefix("ipc://")).unlink()  # a raw socket leaves its file


async def test_back_pressure_drops_market_data_but_never_events(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub-A", encode, loop, sndhwm=10)
    slow = context.socket(zmq.SUB)  # a subscriber that does not read for a while
    slow.setsockopt(zmq.LINGER, 0)
    slow.setsockopt(zmq.RCVHWM, 10)
    slow.setsockopt(zmq.SUBSCRIBE, b"")
    slow.connect(endpoint)
    try:
        body = "x" * 4096
        deadline = loop.time() + 30
        while pub.dropped == 0:  # fill every buffer on the way until ZeroMQ pushes back
            assert loop.time() < deadline, "publisher never felt back-pressure"
            pub.publish("data.quotes.SIM.BTCUSDT", Ping(0, body), droppable=True)
        events = [Ping(n) for n in range(1, 101)]
        for ping in events:
            assert pub.publish("events.order.S-1", ping)
        assert pub.pending > 0, "events were sent although the socket was full"
        received: list[Ping] = []
        while len(received) < len(events):
            assert loop.time() < deadline, f"only {len(received)} events arrived"
            try:
                frame = slow.recv(zmq.NOBLOCK)
            except zmq.Again:
                await asyncio.sleep(0)  # let the publisher flush as the queue drains
                continue
            topic, envelope = unpack_frame(frame)
            if topic.startswith("events."):
                received.append(decode(envelope.payload))
        assert received == events
        assert pub.pending == 0
    finally:
        slow.close(linger=0)
        pub.close()


PUBLISHER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import msgspec, zmq
    from livenode.bus.zmq_transport import ZmqPublisher

    class Ping(msgspec.Struct, frozen=True, array_like=True):
        n: int
        body: str = ""

    async def main(endpoint, count):
        ctx = zmq.Context()
        loop = asyncio.get_running_loop()
        pub = ZmqPublisher(ctx, endpoint, "remote", msgspec.msgpack.encode, loop)
        print("bound", flush=True)
        # Publish only once the subscriber's hello arrived: its topics are live then.
        deadline = loop.time() + 60
        while not any(s.startswith("_hello.") for s in pub.subscriptions):
            if loop.time() > deadline:
                sys.exit("no subscriber said hello within 60 s")
            await asyncio.sleep(0.01)
        for n in range(1, count + 1):
            pub.publish("events.order.S-1", Ping(n))
        sys.stdin.readline()  # stay up until the test is done reading
        pub.close()
        ctx.term()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_no_slow_joiner_loss_across_processes(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_SCRIPT, endpoint, "500"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    got = Collector()
    sub = ZmqSubscriber(context, "sub-1", decode, got, loop)
    try:
        assert proc.stdout is not None
        assert await loop.run_in_executor(None, proc.stdout.readline) == "bound\n"
        sub.connect(endpoint, ["events."])
        await sub.wait_joined(["remote"], timeout=30)
        await got.wait_for(500)
        # The very first message published arrived: nothing lost to the slow joiner.
        assert [m.n for _, m in got.messages] == list(range(1, 501))
        assert sub.gaps == 0
    finally:
        sub.close()
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


async def test_a_subscriber_that_joins_late_counts_the_topics_it_missed_the_start_of(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub-A", encode, loop)
    early = Collector()
    first = ZmqSubscriber(context, "sub-1", decode, early, loop)
    late_got = Collector()
    late = ZmqSubscriber(context, "sub-2", decode, late_got, loop)
    try:
        first.connect(endpoint, ["t."])
        await first.wait_joined(["pub-A"], timeout=30)
        pub.publish("t.x", Ping(1))  # published before sub-2 joined: it never sees seq 1
        await early.wait_for(1)
        late.connect(endpoint, ["t."])
        await late.wait_joined(["pub-A"], timeout=30)
        pub.publish("t.x", Ping(2))
        pub.publish("t.y", Ping(3))  # a new topic after the join: complete from seq 1
        await late_got.wait_for(2)
        await early.wait_for(3)
        assert first.late_topics == 0 and first.gaps == 0
        assert late.late_topics == 1 and late.gaps == 0
    finally:
        late.close()
        first.close()
        pub.close()


async def test_events_published_while_no_peer_takes_them_are_held_then_delivered(
    context: zmq.Context[Any], endpoint: str
) -> None:
    # A command topic whose only consumer is down (restarting): nothing is lost.
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "pub-A", encode, loop)
    got = Collector()
    sub = ZmqSubscriber(context, "risk", decode, got, loop)
    try:
        for n in range(1, 51):
            assert pub.publish("commands.risk", Ping(n))
        assert pub.held == 50 and pub.sent == 0
        sub.connect(endpoint, ["commands.risk"])
        await sub.wait_joined(["pub-A"], timeout=30)
        await got.wait_for(50)
        assert [m.n for _, m in got.messages] == list(range(1, 51))
        assert sub.late_topics == 0 and sub.gaps == 0 and pub.held == 0
    finally:
        sub.close()
        pub.close()


async def test_exact_topic_subscription_and_per_topic_holding(
    context: zmq.Context[Any], endpoint: str
) -> None:
    # exec-SIM takes exactly "commands.exec.SIM": SIM2's commands are neither
    # delivered to it nor do they count as covered; they are held for exec-SIM2,
    # and that backlog does not hold SIM's commands back.
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "risk", encode, loop)
    got = Collector()
    sub = ZmqSubscriber(context, "exec-SIM", decode, got, loop)
    try:
        sub.connect(endpoint, ["commands.exec.SIM\x00"])
        await sub.wait_joined(["risk"], timeout=30)
        pub.publish("commands.exec.SIM2", Ping(99))
        for n in range(1, 21):
            pub.publish("commands.exec.SIM", Ping(n))
        await got.wait_for(20)
        assert [(t, m.n) for t, m in got.messages] == [
            ("commands.exec.SIM", n) for n in range(1, 21)
        ]
        assert pub.held == 1  # SIM2's command waits for exec-SIM2
    finally:
        sub.close()
        pub.close()
