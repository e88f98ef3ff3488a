"""The wire layer over real ZeroMQ sockets (inproc): the outgoing policies and their
counts, a ROUTER's per-peer queues, malformed frames counted and rate-limited, pausing,
and the edge-triggered FD (a message arriving while we send is not stranded)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from livenode.bus.control import ControlSocket, Hello, Stop
from livenode.bus.wire import Pump, RequestChannel, TopicPublisher, TopicSubscriber

_ids = itertools.count()


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.term()  # hangs if a socket was left open


def endpoint() -> str:
    return f"inproc://wire-{next(_ids)}"


def sock(ctx: zmq.Context[Any], kind: int, **options: int) -> zmq.Socket[Any]:
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    for name, value in options.items():
        s.setsockopt(getattr(zmq, name), value)
    return s


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def recv_all(s: zmq.Socket[Any]) -> list[list[bytes]]:
    got = []
    while s.poll(50):
        got.append(s.recv_multipart())
    return got


async def test_request_channel_round_trip(ctx: zmq.Context[Any]) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    router_sock = sock(ctx, zmq.ROUTER)
    router_sock.bind(ep)
    dealer_sock = sock(ctx, zmq.DEALER)
    dealer_sock.setsockopt(zmq.IDENTITY, b"w1")
    dealer_sock.connect(ep)
    at_router: list[tuple[bytes, bytes]] = []
    at_dealer: list[tuple[bytes, bytes]] = []

    def answer(peer: bytes, payload: bytes) -> None:
        at_router.append((peer, payload))
        router.send(b"re:" + payload, peer)

    router = RequestChannel(router_sock, loop, answer, name="router")
    dealer = RequestChannel(dealer_sock, loop, lambda p, m: at_dealer.append((p, m)),
                            name="dealer")
    try:
        for n in range(100):
            assert dealer.send(b"%d" % n)
        await until(lambda: len(at_dealer) == 100)
        assert at_router == [(b"w1", b"%d" % n) for n in range(100)]
        assert at_dealer == [(b"", b"re:%d" % n) for n in range(100)]
        assert dealer.pump.sent == 100 and router.pump.sent == 100
        assert dealer.pump.dropped == router.pump.dropped == 0
        with pytest.raises(ValueError, match="ROUTER sends to a peer"):
            router.send(b"x")
        with pytest.raises(ValueError, match="ROUTER sends to a peer"):
            dealer.send(b"x", b"w1")
    finally:
        router.close()
        dealer.close()


async def test_block_policy_keeps_in_order_what_a_full_peer_cannot_take(
    ctx: zmq.Context[Any],
) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    peer = sock(ctx, zmq.ROUTER, RCVHWM=1)
    peer.bind(ep)
    dealer_sock = sock(ctx, zmq.DEALER, SNDHWM=1)
    dealer_sock.connect(ep)
    dealer = RequestChannel(dealer_sock, loop, lambda p, m: None, name="dealer")
    try:
        await asyncio.sleep(0.05)
        for n in range(200):
            assert dealer.send(b"%d" % n)
        assert dealer.pump.pending > 0, "the peer's queue never filled"
        assert dealer.pump.queued == dealer.pump.pending
        got: list[bytes] = []
        while len(got) < 200:  # the peer reads: what waited follows, in order
            if peer.poll(0):
                got.append(peer.recv_multipart()[1])
            else:
                await asyncio.sleep(0.001)
        assert got == [b"%d" % n for n in range(200)]
        await until(lambda: dealer.pump.pending == 0)
        assert dealer.pump.dropped == 0 and dealer.pump.blocked == 0
    finally:
        dealer.close()
        peer.close()


async def test_block_policy_at_its_bound_holds_the_producer_then_drops_counted(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    peer = sock(ctx, zmq.ROUTER, RCVHWM=1)
    peer.bind(ep)
    dealer_sock = sock(ctx, zmq.DEALER, SNDHWM=1)
    dealer_sock.connect(ep)
    pump = Pump(dealer_sock, loop, name="slow-peer", max_queued=5, block_timeout=0.1)
    try:
        await asyncio.sleep(0.05)
        sent = 0
        while pump.pending < 5:  # fill ZeroMQ's queues, then ours up to the bound
            assert pump.send(b"%d" % sent)
            sent += 1
        start = time.monotonic()
        assert not pump.send(b"over")  # held for block_timeout, then dropped
        assert time.monotonic() - start >= 0.09
        assert (pump.blocked, pump.dropped, pump.pending) == (1, 1, 5)
        start = time.monotonic()
        for _ in range(50):  # shedding: no second wait while the peer reads nothing
            assert not pump.send(b"over")
        assert time.monotonic() - start < 0.09
        assert (pump.blocked, pump.dropped) == (1, 51)
        lines = [r for r in caplog.records if "dropped one" in r.getMessage()]
        assert 1 <= len(lines) <= 11  # logged within the limit
        got = []
        while len(got) < sent:  # the peer reads: everything kept arrives, in order
            if peer.poll(0):
                got.append(peer.recv_multipart()[1])
            else:
                await asyncio.sleep(0.001)
        assert got == [b"%d" % n for n in range(sent)]
        await until(lambda: pump.pending == 0)
        assert pump.send(b"again")  # room again: kept or sent, not dropped
        assert pump.dropped == 51
    finally:
        pump.close()
        peer.close()


async def test_drop_policy_and_offer_drop_the_newest_counted(ctx: zmq.Context[Any]) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    xpub = sock(ctx, zmq.XPUB, SNDHWM=1, XPUB_NODROP=1)
    xpub.bind(ep)
    sub = sock(ctx, zmq.SUB, RCVHWM=1)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(ep)
    subscriptions: list[tuple[bool, bytes]] = []
    pub = TopicPublisher(xpub, loop, lambda s, p: subscriptions.append((s, p)), name="md",
                         policy="drop", max_queued=0)
    try:
        await until(lambda: subscriptions == [(True, b"")])
        results = [pub.send(b"t\x00%d" % n) for n in range(100)]
        assert not all(results) and pub.pump.pending == 0 and pub.pump.queued == 0
        assert pub.pump.dropped == results.count(False) > 0
        assert pub.pump.sent == results.count(True)
        before = pub.pump.dropped
        assert not pub.offer(b"t\x00late")
        assert pub.pump.dropped == before + 1
        got = [f[0] for f in recv_all(sub)]
        assert len(got) == pub.pump.sent  # what was not dropped arrived
    finally:
        pub.close()
        sub.close()


async def test_offer_never_overtakes_what_waits(ctx: zmq.Context[Any]) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    xpub = sock(ctx, zmq.XPUB, SNDHWM=1, XPUB_NODROP=1)
    xpub.bind(ep)
    sub = sock(ctx, zmq.SUB, RCVHWM=1)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(ep)
    pub = TopicPublisher(xpub, loop, lambda s, p: None, name="bus")  # "block"
    try:
        await asyncio.sleep(0.05)
        n = 0
        while pub.pump.pending == 0:
            assert pub.send(b"e\x00%d" % n)
            n += 1
        assert not pub.offer(b"q\x00dropped")  # market data behind events: dropped
        assert pub.pump.dropped == 1
        got: list[bytes] = []
        while len(got) < n:
            if sub.poll(0):
                got.append(sub.recv())
            else:
                await asyncio.sleep(0.001)
        assert got == [b"e\x00%d" % i for i in range(n)]
    finally:
        pub.close()
        sub.close()


async def test_a_router_keeps_a_queue_per_peer_and_forgets_a_peer_that_is_gone(
    ctx: zmq.Context[Any],
) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    router_sock = sock(ctx, zmq.ROUTER, SNDHWM=1, ROUTER_MANDATORY=1)
    router_sock.bind(ep)
    slow = sock(ctx, zmq.DEALER, RCVHWM=1)
    slow.setsockopt(zmq.IDENTITY, b"slow")
    slow.connect(ep)
    fast = sock(ctx, zmq.DEALER)
    fast.setsockopt(zmq.IDENTITY, b"fast")
    fast.connect(ep)
    gone: list[bytes] = []
    router = RequestChannel(router_sock, loop, lambda p, m: None, name="venue",
                            on_unroutable=gone.append)
    try:
        slow.send(b"hi")
        fast.send(b"hi")
        await asyncio.sleep(0.05)
        for n in range(100):
            assert router.send(b"%d" % n, b"slow")
        waiting = router.pump.pending
        assert waiting > 0, "the slow peer's queue never filled"
        for n in range(10):  # the fast peer is not held up behind the slow one
            assert router.send(b"%d" % n, b"fast")
        assert [f[0] for f in recv_all(fast)] == [b"%d" % n for n in range(10)]
        assert router.pump.pending == waiting
        slow.close()  # gone with its frames waiting: forgotten, counted, said
        await until(lambda: gone == [b"slow"])
        assert router.pump.pending == 0 and router.pump.unroutable >= waiting
        assert not router.send(b"late", b"slow")
    finally:
        router.close()
        fast.close()


async def test_malformed_frames_are_counted_and_logged_within_a_limit(
    ctx: zmq.Context[Any], caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    router_sock = sock(ctx, zmq.ROUTER)
    router_sock.bind(ep)
    good: list[bytes] = []

    def on_message(peer: bytes, payload: bytes) -> None:
        if payload.startswith(b"bad"):
            router.pump.reject("dropped a bad payload from %r", peer)
        else:
            good.append(payload)

    router = RequestChannel(router_sock, loop, on_message, name="ctl")
    client = sock(ctx, zmq.DEALER)
    client.connect(ep)
    try:
        with caplog.at_level(logging.ERROR, logger="livenode.bus.wire"):
            for _ in range(500):
                client.send_multipart([b"two", b"frames"])  # 3 at the ROUTER
                client.send(b"bad")
            client.send(b"ok")
            await until(lambda: good == [b"ok"])
        assert router.pump.malformed == 1000
        lines = [r for r in caplog.records if r.name == "livenode.bus.wire"]
        assert 1 <= len(lines) <= 11, len(lines)  # one limiter for both kinds of fault
        assert "(#1)" in lines[0].getMessage()
    finally:
        router.close()
        client.close()


async def test_a_message_arriving_while_we_send_is_not_stranded(ctx: zmq.Context[Any]) -> None:
    # ZeroMQ's FD is edge-triggered: a send processes the socket's pending commands,
    # which may consume the edge of a message that arrived meanwhile. The pump looks
    # again after every send; without that the message would wait for the next one.
    loop = asyncio.get_running_loop()
    ep = endpoint()
    peer = sock(ctx, zmq.ROUTER)
    peer.bind(ep)
    dealer_sock = sock(ctx, zmq.DEALER)
    dealer_sock.setsockopt(zmq.IDENTITY, b"me")
    dealer_sock.connect(ep)
    got: list[bytes] = []
    dealer = RequestChannel(dealer_sock, loop, lambda p, m: got.append(m), name="dealer")
    try:
        dealer.send(b"hello")
        await until(lambda: peer.poll(0) != 0)
        peer.recv_multipart()
        for n in range(20):
            peer.send_multipart([b"me", b"reply %d" % n])
            time.sleep(0.01)  # the reply reaches our socket while the loop is busy
            dealer.send(b"request %d" % n)  # ... and this send takes its edge
            await until(lambda n=n: len(got) == n + 1, timeout=2.0)
        assert got == [b"reply %d" % n for n in range(20)]
    finally:
        dealer.close()
        peer.close()


async def test_a_message_arriving_while_we_connect_is_not_stranded(
    ctx: zmq.Context[Any],
) -> None:
    # A connect (as a subscriber's move to a restarted publisher) processes the
    # socket's commands too: the channel looks at the socket after it.
    loop = asyncio.get_running_loop()
    ep = endpoint()
    pub = sock(ctx, zmq.PUB)
    pub.bind(ep)
    sub_sock = sock(ctx, zmq.SUB)
    sub_sock.setsockopt(zmq.SUBSCRIBE, b"a")
    sub_sock.connect(ep)
    got: list[bytes] = []
    sub = TopicSubscriber(sub_sock, loop, got.append, name="sub")
    try:
        await asyncio.sleep(0.05)
        for n in range(20):
            pub.send(b"a%d" % n)
            time.sleep(0.01)
            sub.connect(endpoint())  # a publisher not there yet
            await until(lambda n=n: len(got) == n + 1, timeout=2.0)
        assert got == [b"a%d" % n for n in range(20)]
    finally:
        sub.close()
        pub.close()


async def test_pause_leaves_messages_in_zeromq_until_resume(ctx: zmq.Context[Any]) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    pub = sock(ctx, zmq.PUB)
    pub.bind(ep)
    sub_sock = sock(ctx, zmq.SUB)
    sub_sock.setsockopt(zmq.SUBSCRIBE, b"")
    sub_sock.connect(ep)
    got: list[bytes] = []

    def on_frame(frame: bytes) -> None:
        got.append(frame)
        if len(got) == 3:
            sub.pump.pause()

    sub = TopicSubscriber(sub_sock, loop, on_frame, name="sub")
    try:
        await asyncio.sleep(0.05)
        for n in range(10):
            pub.send(b"%d" % n)
        await until(lambda: len(got) == 3)
        await asyncio.sleep(0.05)
        assert len(got) == 3 and sub.pump.paused == 1
        sub.pump.resume()
        await until(lambda: len(got) == 10)
        assert got == [b"%d" % n for n in range(10)]
    finally:
        sub.close()
        pub.close()


async def test_close_with_linger_sends_what_waits_first(ctx: zmq.Context[Any]) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    peer = sock(ctx, zmq.ROUTER, RCVHWM=1)
    peer.bind(ep)
    dealer_sock = sock(ctx, zmq.DEALER, SNDHWM=1)
    dealer_sock.connect(ep)
    dealer = RequestChannel(dealer_sock, loop, lambda p, m: None, name="dealer")
    await asyncio.sleep(0.05)
    for n in range(20):
        dealer.send(b"%d" % n)
    assert dealer.pump.pending > 0

    got: list[bytes] = []

    def read() -> None:
        while len(got) < 20:
            if peer.poll(1000):
                got.append(peer.recv_multipart()[1])

    reader = loop.run_in_executor(None, read)
    dealer.close(linger_ms=2000)
    await reader
    assert got == [b"%d" % n for n in range(20)]
    peer.close()


async def test_control_socket_bounds_its_incoming_queue_by_pausing(
    ctx: zmq.Context[Any],
) -> None:
    loop = asyncio.get_running_loop()
    ep = endpoint()
    router_sock = sock(ctx, zmq.ROUTER)
    router_sock.bind(ep)
    router = ControlSocket(router_sock, loop, max_incoming=3)
    dealer_sock = sock(ctx, zmq.DEALER)
    dealer_sock.setsockopt(zmq.IDENTITY, b"w")
    dealer_sock.connect(ep)
    dealer = ControlSocket(dealer_sock, loop)
    try:
        for n in range(10):
            dealer.send(Hello(worker="w", pid=n))
        await until(lambda: router.recv_paused >= 1)
        assert router._queue.qsize() == 3  # bounded: the rest waits in ZeroMQ
        got = [await asyncio.wait_for(router.recv(), 5) for _ in range(10)]
        assert [(p, m.pid) for p, m in got if isinstance(m, Hello)] == [
            (b"w", n) for n in range(10)]
        router.send(Stop(reason="x"), to=b"w")
        _, stop = await asyncio.wait_for(dealer.recv(), 5)
        assert stop == Stop(reason="x")
        assert dealer.dropped == router.dropped == 0
    finally:
        router.close()
        dealer.close()


async def test_control_socket_keeps_what_a_full_peer_queue_cannot_take(
    ctx: zmq.Context[Any],
) -> None:
    # It used to drop the message with a log line; now it waits, in order, counted.
    loop = asyncio.get_running_loop()
    ep = endpoint()
    peer = sock(ctx, zmq.ROUTER, RCVHWM=1)
    peer.bind(ep)
    dealer_sock = sock(ctx, zmq.DEALER, SNDHWM=1)
    dealer_sock.connect(ep)
    control = ControlSocket(dealer_sock, loop)
    try:
        await asyncio.sleep(0.05)
        for n in range(50):
            control.send(Hello(worker="w", pid=n))
        assert control.pending > 0 and control.dropped == 0
        got = []
        while len(got) < 50:
            if peer.poll(0):
                got.append(peer.recv_multipart()[1])
            else:
                await asyncio.sleep(0.001)
        assert len(got) == 50 and control.pending == 0
    finally:
        control.close()
        peer.close()
