"""CommandTable: one handler per control message type, unknown types counted and
logged within a limit."""

from __future__ import annotations

import logging

import pytest

from livenode.bus.commands import CommandTable
from livenode.bus.control import Ack, Go, StatusRequest, Stop


def test_each_message_goes_to_the_handler_of_its_type() -> None:
    seen: list[tuple[bytes, object]] = []
    table: CommandTable[bytes] = CommandTable("test")
    table.register(Stop, lambda peer, msg: seen.append((peer, msg)))
    table.register(Go, lambda peer, msg: seen.append((b"go:" + peer, msg)))
    table.ignore(Ack)
    table.dispatch(b"a", Stop(reason="x"))
    table.dispatch(b"b", Go())
    table.dispatch(b"c", Ack())
    assert seen == [(b"a", Stop(reason="x")), (b"go:b", Go())]
    assert table.kinds == {Stop, Go, Ack}
    assert table.unknown == 0


def test_a_second_handler_for_one_type_is_refused() -> None:
    table: CommandTable[bytes] = CommandTable("supervisor")
    table.register(Stop, lambda peer, msg: None)
    with pytest.raises(ValueError, match="supervisor: Stop already has a handler"):
        table.register(Stop, lambda peer, msg: None)


def test_a_flood_of_unknown_commands_is_counted_and_logged_within_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table: CommandTable[bytes] = CommandTable("worker-x")
    with caplog.at_level(logging.WARNING, logger="livenode.bus.commands"):
        for _ in range(1000):
            table.dispatch(b"peer", StatusRequest())
    assert table.unknown == 1000
    lines = [r.getMessage() for r in caplog.records]
    assert 1 <= len(lines) <= 11, lines
    assert "worker-x: no handler for control message StatusRequest from b'peer'" in lines[0]
