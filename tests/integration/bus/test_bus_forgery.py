"""Frames from a process that is not a worker of the node change nothing on the bus:
a passive subscriber never takes what is held for a worker, and a plain frame or a
forged unsubscription written to a publisher does not unsubscribe its consumer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zmq
from tests.integration.bus.test_zmq_transport import Collector, Ping, decode, encode

from livenode.bus.zmq_transport import ZmqPublisher, ZmqSubscriber

CONSUMERS = {"risk": ["commands.risk\x00"]}


async def _until(check: Any, timeout: float = 30.0, message: Any = None) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, (
            f"condition not met in time{'' if message is None else f': {message()}'}")
        await asyncio.sleep(0.005)


async def test_a_passive_subscriber_never_takes_commands_held_for_a_worker(
    context: zmq.Context[Any], endpoint: str
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "trader", encode, loop, consumers=CONSUMERS)
    passive = context.socket(zmq.SUB)
    passive.setsockopt(zmq.LINGER, 0)
    passive.setsockopt(zmq.SUBSCRIBE, b"")  # everything, and no hello
    passive.connect(endpoint)
    got = Collector()
    risk = ZmqSubscriber(context, "risk", decode, got, loop)
    try:
        await _until(lambda: "" in pub.subscriptions)  # the publisher saw it
        for n in range(1, 11):
            assert pub.publish("commands.risk", Ping(n))
        assert pub.held == 10 and pub.sent == 0  # the passive one does not count
        assert passive.poll(200) == 0  # and got nothing
        risk.connect(endpoint, ["commands.risk\x00"])
        await risk.wait_joined(["trader"], timeout=30)
        await got.wait_for(10)
        assert [m.n for _, m in got.messages] == list(range(1, 11))
        assert pub.held == 0 and risk.gaps == 0
    finally:
        passive.close(linger=0)
        risk.close()
        pub.close()


async def test_forged_frames_on_a_publisher_do_not_unsubscribe_its_consumer(
    context: zmq.Context[Any], endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "trader", encode, loop, consumers=CONSUMERS)
    got = Collector()
    risk = ZmqSubscriber(context, "risk", decode, got, loop)
    forger = context.socket(zmq.XSUB)  # XSUB writes raw frames upstream
    forger.setsockopt(zmq.LINGER, 0)
    try:
        risk.connect(endpoint, ["commands.risk\x00"])
        await risk.wait_joined(["trader"], timeout=30)
        forger.connect(endpoint)
        # An XSUB drops upstream frames beyond its high-water mark (1000) instead of
        # blocking, so the forger sends in rounds that fit and waits for each one.
        for round_ in range(10):
            for n in range(100):  # the frame of the report, a forged unsubscription, junk
                forger.send(b"\x02commands.risk\x00")
                forger.send(b"\x00commands.risk\x00")
                forger.send(bytes([7 + n % 200]) + b"junk")
            expected = 200 * (round_ + 1)
            await _until(lambda e=expected: pub.foreign_frames >= e,
                         message=lambda: pub.foreign_frames)
        for n in range(1, 21):
            assert pub.publish("commands.risk", Ping(n))
        await got.wait_for(20)
        assert [m.n for _, m in got.messages] == list(range(1, 21))
        assert pub.held == 0 and "commands.risk\x00" in pub.subscriptions
        # Logged, but rate-limited: 2000 frames do not make 2000 lines.
        lines = [r for r in caplog.records if "not a subscription" in r.getMessage()]
        assert 1 <= len(lines) <= 11
    finally:
        forger.close(linger=0)
        risk.close()
        pub.close()
