"""MessageBus endpoints and request/response."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from livenode.bus.message_bus import MessageBus
from livenode.core.clock import TestClock
from livenode.core.errors import DuplicateEndpointError, EndpointNotFoundError


class Req(msgspec.Struct, frozen=True):
    request_id: str
    body: str = ""


class Res(msgspec.Struct, frozen=True):
    correlation_id: str
    body: str = ""


@pytest.fixture
def bus() -> MessageBus:
    return MessageBus("TRADER-001", TestClock(0))


def test_send_to_registered_endpoint(bus: MessageBus) -> None:
    got: list[Any] = []
    bus.register("DataEngine.process", got.append)
    bus.send("DataEngine.process", 1)
    bus.send("DataEngine.process", 2)
    assert got == [1, 2]
    assert bus.sent_count == 2 and bus.dead_letters == 0
    assert bus.has_endpoint("DataEngine.process")
    assert bus.endpoints == ["DataEngine.process"]


def test_duplicate_endpoint_is_refused(bus: MessageBus) -> None:
    first: list[Any] = []
    bus.register("E", first.append)
    with pytest.raises(DuplicateEndpointError, match="'E'"):
        bus.register("E", lambda m: None)
    with pytest.raises(ValueError):  # DuplicateEndpointError is a ValueError
        bus.register("E", first.append)
    bus.send("E", 1)
    assert first == [1]


def test_deregister(bus: MessageBus) -> None:
    bus.register("E", lambda m: None)
    assert bus.deregister("E") is True
    assert bus.deregister("E") is False
    assert not bus.has_endpoint("E")
    bus.register("E", lambda m: None)  # free again


def test_dead_letters_are_counted_not_raised(
    bus: MessageBus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="livenode.bus")
    bus.send("Nobody.process", 1)
    bus.send("Nobody.process", 2)
    assert bus.dead_letters == 2 and bus.sent_count == 2
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "Nobody.process" in warnings[0].getMessage()


def test_endpoint_handler_error_is_contained(bus: MessageBus) -> None:
    failures: list[str] = []
    bus.on_handler_error = lambda where, h, exc: failures.append(where)
    bus.register("E", lambda m: 1 / 0)
    bus.send("E", 1)
    assert bus.handler_errors == 1
    assert failures == ["E"]


async def test_request_resolved_by_async_response(bus: MessageBus) -> None:
    loop = asyncio.get_running_loop()

    def responder(req: Req) -> None:
        loop.call_soon(bus.response, Res(req.request_id, "pong:" + req.body))

    bus.register("Svc", responder)
    fut = bus.request("Svc", Req("r1", "ping"), timeout=5.0)
    assert bus.pending_requests == 1
    res = await fut
    assert res == Res("r1", "pong:ping")
    assert bus.req_count == 1 and bus.res_count == 1
    assert bus.pending_requests == 0


async def test_request_resolved_synchronously(bus: MessageBus) -> None:
    bus.register("Svc", lambda req: bus.response(Res(req.request_id, "now")))
    fut = bus.request("Svc", Req("r1"), timeout=5.0)
    assert fut.done()
    assert (await fut).body == "now"
    assert bus.pending_requests == 0


async def test_responses_matched_by_correlation_id(bus: MessageBus) -> None:
    held: list[Req] = []
    bus.register("Svc", held.append)
    f1 = bus.request("Svc", Req("a"), timeout=5.0)
    f2 = bus.request("Svc", Req("b"), timeout=5.0)
    bus.response(Res("b", "for b"))
    bus.response(Res("a", "for a"))
    assert (await f1).body == "for a"
    assert (await f2).body == "for b"


async def test_request_times_out_and_is_cleaned_up(bus: MessageBus) -> None:
    bus.register("Silent", lambda req: None)
    fut = bus.request("Silent", Req("r1"), timeout=0.02)
    with pytest.raises(asyncio.TimeoutError, match="r1"):
        await fut
    assert bus.pending_requests == 0
    bus.response(Res("r1"))  # a late response is dropped quietly
    assert bus.res_count == 1


async def test_request_to_unknown_endpoint_fails_at_once(bus: MessageBus) -> None:
    fut = bus.request("Nobody", Req("r1"), timeout=5.0)
    assert fut.done()
    with pytest.raises(EndpointNotFoundError, match="Nobody"):
        await fut
    assert bus.dead_letters == 1 and bus.pending_requests == 0


async def test_request_handler_error_fails_the_future(bus: MessageBus) -> None:
    def broken(req: Req) -> None:
        raise RuntimeError("cannot answer")

    bus.register("Svc", broken)
    fut = bus.request("Svc", Req("r1"), timeout=5.0)
    with pytest.raises(RuntimeError, match="cannot answer"):
        await fut
    assert bus.handler_errors == 1 and bus.pending_requests == 0


async def test_cancelled_request_is_cleaned_up(bus: MessageBus) -> None:
    bus.register("Svc", lambda req: None)
    fut = bus.request("Svc", Req("r1"), timeout=5.0)
    fut.cancel()
    await asyncio.sleep(0)  # let the done-callback run (one loop iteration, not a timed wait)
    assert bus.pending_requests == 0
    bus.response(Res("r1"))  # no error


async def test_duplicate_pending_request_id(bus: MessageBus) -> None:
    bus.register("Svc", lambda req: None)
    fut = bus.request("Svc", Req("r1"), timeout=5.0)
    with pytest.raises(ValueError, match="r1"):
        bus.request("Svc", Req("r1"), timeout=5.0)
    bus.response(Res("r1", "ok"))
    assert (await fut).body == "ok"


def test_request_needs_a_running_loop(bus: MessageBus) -> None:
    bus.register("Svc", lambda req: None)
    with pytest.raises(RuntimeError):
        bus.request("Svc", Req("r1"), timeout=1.0)
