"""Bus hop latency: a subscriber samples 1 message in N and records, per publisher,
the time from the publisher's send stamp to its own receive (real sockets)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zmq
from tests.integration.bus.test_zmq_transport import Collector, Ping, decode, encode

from livenode.bus.zmq_transport import ZmqPublisher, ZmqSubscriber


@pytest.mark.parametrize(("every", "expected"), [(1, 40), (5, 8), (0, 0)])
async def test_hops_are_sampled_one_in_n_per_publisher(
    context: zmq.Context[Any], endpoint: str, every: int, expected: int
) -> None:
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(context, endpoint, "data-SIM", encode, loop)
    got = Collector()
    sub = ZmqSubscriber(context, "trader", decode, got, loop, latency_every=every)
    try:
        sub.connect(endpoint, ["data."])
        await sub.wait_joined(["data-SIM"], timeout=30)
        for n in range(1, 41):
            assert pub.publish("data.quotes", Ping(n))
        await got.wait_for(40)
        # Every message is delivered, sampled or not, in order.
        assert [m.n for _, m in got.messages] == list(range(1, 41))
        if expected == 0:
            assert sub.hop_latency == {}
            return
        summary = sub.hop_latency["data-SIM"].summary()
        assert summary["count"] == expected
        assert 0 < summary["p50"] <= summary["p99"] <= summary["max"]
        assert summary["max"] < 60_000_000_000  # a hop on one host: well under a minute
    finally:
        sub.close()
        pub.close()
