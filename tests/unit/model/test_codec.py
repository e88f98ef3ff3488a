"""The bus codec: round trips of every message type; malformed input is a CodecError."""

from __future__ import annotations

import typing

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livenode.model import (
    BUS_MESSAGE_TYPES,
    BusMessage,
    Codec,
    CodecError,
    InstrumentId,
    Message,
    Price,
    Quantity,
    QuoteTick,
    decode,
    encode,
)

from .strategies import for_type

CODEC = Codec()
_SLOW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _leaf_messages(cls: type) -> set[type]:
    out: set[type] = set()
    for sub in cls.__subclasses__():
        children = _leaf_messages(sub)
        out |= children or {sub}
    return out


def test_union_covers_every_concrete_message_type() -> None:
    union = set(typing.get_args(BusMessage))
    assert union == set(BUS_MESSAGE_TYPES)
    assert _leaf_messages(Message) == union
    tags = [msgspec.inspect.type_info(t).tag for t in BUS_MESSAGE_TYPES]  # type: ignore[attr-defined]
    assert tags == [t.__name__ for t in BUS_MESSAGE_TYPES]


@pytest.mark.parametrize("cls", BUS_MESSAGE_TYPES, ids=lambda c: c.__name__)
@_SLOW
@given(data=st.data())
def test_roundtrip_every_message_type(cls: type[Message], data: st.DataObject) -> None:
    msg = data.draw(for_type(cls))
    payload = CODEC.encode(msg)
    back = CODEC.decode(payload)
    assert type(back) is cls
    assert back == msg
    assert CODEC.encode(back) == payload  # stable bytes
    assert decode(encode(msg)) == msg
    assert CODEC.decode(memoryview(payload)) == msg


def quote() -> QuoteTick:
    return QuoteTick(
        InstrumentId("BTCUSDT.SIM"),
        Price(100, 0),
        Price(101, 0),
        Quantity(1, 0),
        Quantity(2, 0),
        1,
        2,
    )


def test_encode_into_after_a_topic_prefix() -> None:
    buffer = bytearray(b"data.quotes.SIM.BTCUSDT ")
    prefix = len(buffer)
    CODEC.encode_into(quote(), buffer, prefix)
    assert buffer.startswith(b"data.quotes.SIM.BTCUSDT ")
    assert CODEC.decode(memoryview(buffer)[prefix:]) == quote()


@pytest.mark.parametrize("bad", [object(), 1, "x", InstrumentId("A.B"), Price(1, 0)])
def test_encode_refuses_non_messages(bad: object) -> None:
    with pytest.raises(CodecError, match="not a bus Message"):
        CODEC.encode(bad)  # type: ignore[arg-type]


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


def _decode_or_codec_error(data: bytes) -> None:
    try:
        result = CODEC.decode(data)
    except CodecError:
        return
    assert isinstance(result, BUS_MESSAGE_TYPES)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_codec_error_only(data: bytes) -> None:
    _decode_or_codec_error(data)


@pytest.mark.parametrize("cls", BUS_MESSAGE_TYPES, ids=lambda c: c.__name__)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_truncation_is_a_codec_error(cls: type[Message], data: st.DataObject) -> None:
    payload = CODEC.encode(data.draw(for_type(cls)))
    for cut in range(len(payload)):
        with pytest.raises(CodecError, match="malformed bus message"):
            CODEC.decode(payload[:cut])


def test_trailing_garbage_and_empty_input() -> None:
    with pytest.raises(CodecError):
        CODEC.decode(CODEC.encode(quote()) + b"\x00")
    with pytest.raises(CodecError):
        CODEC.decode(b"")


def test_wrong_tag_names_the_tag() -> None:
    fields = msgspec.msgpack.decode(CODEC.encode(quote()))
    fields[0] = "NoSuchMessage"
    with pytest.raises(CodecError, match="NoSuchMessage"):
        CODEC.decode(msgspec.msgpack.encode(fields))
    fields[0] = 7
    with pytest.raises(CodecError, match="Expected `str`"):
        CODEC.decode(msgspec.msgpack.encode(fields))


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (1, ["BTCUSDT"], "InstrumentId"),  # no venue
        (1, "BTCUSDT.SIM", "Expected `array`"),  # id not wrapped
        (2, [100, 17], "precision"),
        (4, [-1, 0], "Quantity"),  # negative size
        (4, [1.5, 0], "Expected `int`"),
        (6, "late", "Expected `int`"),
    ],
)
def test_wrong_field_values_are_codec_errors(index: int, value: object, match: str) -> None:
    fields = msgspec.msgpack.decode(CODEC.encode(quote()))
    fields[index] = value
    payload = msgspec.msgpack.encode(fields)
    with pytest.raises(CodecError, match=match):
        CODEC.decode(payload)


def test_missing_and_extra_fields() -> None:
    fields = msgspec.msgpack.decode(CODEC.encode(quote()))
    with pytest.raises(CodecError, match=r"at least|Expected"):
        CODEC.decode(msgspec.msgpack.encode(fields[:-1]))
    with pytest.raises(CodecError, match="at most"):
        CODEC.decode(msgspec.msgpack.encode([*fields, 99]))


_INT64 = st.integers(-(2**63), 2**63 - 1)  # what msgpack can carry
_ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=5),
    st.binary(max_size=5), st.lists(_INT64, max_size=3),
    st.dictionaries(st.text(max_size=2), _INT64, max_size=2),
)


@pytest.mark.parametrize("cls", BUS_MESSAGE_TYPES, ids=lambda c: c.__name__)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_replaced_fields_decode_or_raise_codec_error(
    cls: type[Message], data: st.DataObject
) -> None:
    fields = msgspec.msgpack.decode(CODEC.encode(data.draw(for_type(cls))))
    index = data.draw(st.integers(1, len(fields) - 1))
    fields[index] = data.draw(_ODD)
    _decode_or_codec_error(msgspec.msgpack.encode(fields))


@pytest.mark.parametrize("cls", BUS_MESSAGE_TYPES, ids=lambda c: c.__name__)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_flipped_bytes_decode_or_raise_codec_error(cls: type[Message], data: st.DataObject) -> None:
    payload = bytearray(CODEC.encode(data.draw(for_type(cls))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    _decode_or_codec_error(bytes(payload))


def test_invalid_order_in_submit_order_is_a_codec_error() -> None:
    from .factories import initialized

    init = initialized()
    fields = msgspec.msgpack.decode(CODEC.encode(init))
    names = [f.name for f in msgspec.structs.fields(type(init))]
    fields[1 + names.index("price")] = None  # a LIMIT order without a price
    with pytest.raises(CodecError, match="needs a price"):
        CODEC.decode(msgspec.msgpack.encode(fields))
