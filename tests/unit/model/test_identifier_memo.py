"""The per-class memo of validated identifier strings: it never accepts what the
full checks reject (on construction or on decode, cold or warm), each class has
its own, and it stays bounded."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.model import (
    AccountId,
    ClientId,
    ClientOrderId,
    ComponentId,
    InstrumentId,
    PositionId,
    StrategyId,
    Symbol,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
    identifiers,
)
from livenode.model.codec import Codec, CodecError
from livenode.model.data import QuoteTick
from livenode.model.identifiers import Identifier
from livenode.model.objects import Price, Quantity

ALL_TYPES: list[type[Identifier]] = [
    TraderId, StrategyId, Symbol, Venue, InstrumentId, ClientOrderId,
    VenueOrderId, AccountId, PositionId, TradeId, ClientId, ComponentId,
]


def reference_valid(cls: type[Identifier], value: object) -> bool:
    """The identifier rules, written out independently of the implementation."""
    if type(value) is not str or not value or not value.isprintable() or " " in value:
        return False
    if cls is TraderId:
        name, dash, tag = value.rpartition("-")
        return bool(dash and name and tag)
    if cls is Venue:
        return "." not in value
    if cls is InstrumentId:
        symbol, dot, venue = value.rpartition(".")
        return bool(dot and symbol and venue)
    if cls is AccountId:
        venue, dash, number = value.partition("-")
        return bool(dash and venue and number and "." not in venue)
    return True


@pytest.fixture(autouse=True)
def _cold_memo() -> Iterator[None]:
    for cls in ALL_TYPES:
        cls._valid.clear()
    yield
    for cls in ALL_TYPES:
        cls._valid.clear()


# Short strings over a small alphabet full of separators and awkward characters,
# so the format rules (dashes, dots, spaces, control and non-printable
# characters) are hit often.
_alphabet = st.sampled_from(list("AB1-.-. _\t\n\x00\u200b\u00a0\u2028é€"))
_values = st.text(alphabet=_alphabet, min_size=0, max_size=6)
_cls = st.sampled_from(ALL_TYPES)


def _construct_ok(cls: type[Identifier], value: object) -> bool:
    try:
        cls(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _decode_ok(cls: type[Identifier], value: object) -> bool:
    try:
        msgspec.msgpack.decode(msgspec.msgpack.encode([value]), type=cls)
    except msgspec.ValidationError:
        return False
    return True


@settings(deadline=None, max_examples=400)
@given(cls=_cls, values=st.lists(_values, min_size=1, max_size=8))
def test_memo_accepts_exactly_what_the_checks_accept(
    cls: type[Identifier], values: list[str]
) -> None:
    # Each value twice (cold, then warm memo), by construction and by decode.
    for value in values + values:
        expected = reference_valid(cls, value)
        assert _construct_ok(cls, value) is expected, (cls, value)
        assert _decode_ok(cls, value) is expected, (cls, value)
    for value in cls._valid:
        assert reference_valid(cls, value)


@settings(deadline=None, max_examples=200)
@given(value=_values, first=_cls, second=_cls)
def test_memo_is_per_class(value: str, first: type[Identifier], second: type[Identifier]) -> None:
    # A value remembered for one class never passes another class's stricter rules.
    _construct_ok(first, value)
    assert _construct_ok(second, value) is reference_valid(second, value)
    assert _decode_ok(second, value) is reference_valid(second, value)


def test_examples_of_one_class_valid_for_another() -> None:
    Symbol("BRK.B")  # remembered for Symbol
    with pytest.raises(ValueError, match=r"invalid Venue 'BRK\.B'"):
        Venue("BRK.B")
    StrategyId("X")
    with pytest.raises(ValueError, match="invalid TraderId 'X'"):
        TraderId("X")


class _Str(str):
    __slots__ = ()


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_non_str_values_are_rejected_even_when_equal_to_a_remembered_string(
    cls: type[Identifier],
) -> None:
    good = {TraderId: "T-1", InstrumentId: "A.B", AccountId: "SIM-1"}.get(cls, "A")
    cls(good)
    assert good in cls._valid
    for bad in (_Str(good), 123, None, [good], (good,)):
        with pytest.raises(ValueError, match=cls.__name__):
            cls(bad)  # type: ignore[arg-type]


def test_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identifiers, "MEMO_LIMIT", 5)
    for i in range(23):
        ClientOrderId(f"O-{i}")
        assert len(ClientOrderId._valid) <= 5
    assert ClientOrderId("O-0") == ClientOrderId("O-0")  # re-validated after eviction


def test_user_subclass_gets_its_own_memo_and_format_hook() -> None:
    class EvenId(Identifier, frozen=True):
        @classmethod
        def _check_format(cls, value: str) -> None:
            if len(value) % 2:
                raise ValueError(f"invalid EvenId {value!r}: odd length")

    Identifier("ABC")
    assert EvenId._valid is not Identifier._valid
    with pytest.raises(ValueError, match="odd length"):
        EvenId("ABC")
    assert EvenId("ABCD").value == "ABCD"


def test_malformed_frame_is_a_codec_error_with_a_warm_memo() -> None:
    codec = Codec()
    good = QuoteTick(
        InstrumentId("BTCUSDT.SIM"), Price(100, 0), Price(101, 0), Quantity(1, 0),
        Quantity(1, 0), 1, 2,
    )
    frame = codec.encode(good)
    assert codec.decode(frame) == good  # the memo now holds "BTCUSDT.SIM"
    for bad_id in ("BTCUSDT", "BTC USDT.SIM", "BTCUSDT.SIM\n", ""):
        bad = frame.replace(b"\xabBTCUSDT.SIM", msgspec.msgpack.encode(bad_id))
        with pytest.raises(CodecError, match="InstrumentId"):
            codec.decode(bad)
    assert codec.decode(frame) == good
