"""The venue-process wire protocol: envelopes and market frames round-trip; garbage is an error."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livenode.model.codec import Codec
from livenode.model.data import QuoteTick
from livenode.model.objects import Price, Quantity
from livenode.venues.sim.remote_protocol import (
    OPS,
    QUOTE,
    Event,
    MarketFrameError,
    ProtocolCodec,
    ProtocolError,
    Reply,
    Request,
    market_prefix,
    pack_market,
    unpack_market,
)
from tests.unit.adapters.sim_helpers import BTC_ID, ETH_ID, submit

proto = ProtocolCodec()
codec = Codec()


def quote() -> QuoteTick:
    return QuoteTick(BTC_ID, Price.from_str("100.00"), Price.from_str("100.01"),
                     Quantity.from_str("1"), Quantity.from_str("2"), 1, 2)


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_request_op_round_trips(op: str) -> None:
    payload = codec.encode(submit()) if op == "submit" else b""
    req = Request(7, op, payload, open_only=False)  # type: ignore[arg-type]
    back = proto.decode(proto.encode(req))
    assert back == req and type(back) is Request


def test_reply_and_event_round_trip_with_model_payloads() -> None:
    cmd = submit("SELL", "LIMIT", "0.2", price="101.00")
    reply = Reply(3, ok=True, venue="SIM", account_id="SIM-001", session="abcd",
                  items=[codec.encode(cmd), codec.encode(quote())])
    back = proto.decode(proto.encode(reply))
    assert back == reply
    assert [codec.decode(i) for i in back.items] == [cmd, quote()]
    event = Event(12, codec.encode(cmd))
    assert proto.decode(proto.encode(event)) == event
    assert proto.decode(proto.encode(Reply(4, ok=False, error="nope"))).error == "nope"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\x00garbage",
        msgspec.msgpack.encode(["Request", 1, "explode"]),  # unknown op
        msgspec.msgpack.encode(["Nope", 1]),  # unknown tag
        msgspec.msgpack.encode(["Event", "x", b""]),  # wrong field type
        msgspec.msgpack.encode(["Reply"]),  # missing fields
    ],
)
def test_malformed_envelopes_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed venue frame"):
        proto.decode(data)


@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_but_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        proto.decode(data)


def test_market_frames_carry_the_topic_first_and_filter_exactly() -> None:
    prefix = market_prefix(QUOTE, BTC_ID)
    assert prefix == b"quote.BTCUSDT.SIM\x00"
    frame = pack_market(prefix, codec.encode(quote()))
    topic, payload = unpack_market(frame)
    assert topic == "quote.BTCUSDT.SIM"
    assert codec.decode(payload) == quote()
    # The NUL ends the topic: one symbol's prefix never matches a longer symbol.
    assert not market_prefix(QUOTE, ETH_ID).startswith(b"quote.ETHUSDT\x00")
    assert not frame.startswith(b"quote.BTCUSDT\x00")


@pytest.mark.parametrize("frame", [b"no separator here", b"\xff\xfe\x00payload"])
def test_malformed_market_frames_raise(frame: bytes) -> None:
    with pytest.raises(MarketFrameError):
        unpack_market(frame)
