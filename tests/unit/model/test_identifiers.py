"""Identifiers: validation on construction and decode, str/repr, hashing, parts."""

from __future__ import annotations

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
)

ALL_TYPES = [
    TraderId, StrategyId, Symbol, Venue, InstrumentId, ClientOrderId,
    VenueOrderId, AccountId, PositionId, TradeId, ClientId, ComponentId,
]
VALID = {
    TraderId: "TRADER-001",
    StrategyId: "EMACross-001",
    Symbol: "BTCUSDT",
    Venue: "SIM",
    InstrumentId: "BTCUSDT.SIM",
    ClientOrderId: "O-20240101-001",
    VenueOrderId: "123456",
    AccountId: "SIM-001",
    PositionId: "BTCUSDT.SIM-EMACross-001",
    TradeId: "T-1",
    ClientId: "SIM",
    ComponentId: "DataEngine",
}


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_valid_value_str_repr_hash_and_from_str(cls: type) -> None:
    value = VALID[cls]
    ident = cls(value)
    assert str(ident) == value
    assert ident.value == value
    assert repr(ident) == f"{cls.__name__}({value!r})"
    assert cls.from_str(value) == ident
    assert hash(cls(value)) == hash(ident)
    assert {ident: 1}[cls(value)] == 1


@pytest.mark.parametrize("cls", ALL_TYPES)
@pytest.mark.parametrize("bad", ["", " ", "A B", "A\tB", "A\nB", "\x00"])
def test_empty_or_whitespace_rejected_naming_type_and_value(cls: type, bad: str) -> None:
    with pytest.raises(ValueError) as info:
        cls(bad)
    assert cls.__name__ in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_non_str_rejected(cls: type) -> None:
    with pytest.raises(ValueError, match=cls.__name__):
        cls(123)


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (TraderId, "TRADER"),
        (TraderId, "-001"),
        (TraderId, "TRADER-"),
        (InstrumentId, "BTCUSDT"),
        (InstrumentId, ".SIM"),
        (InstrumentId, "BTCUSDT."),
        (AccountId, "SIM"),
        (AccountId, "-001"),
        (AccountId, "SIM-"),
        (Venue, "SI.M"),
    ],
)
def test_format_rules(cls: type, bad: str) -> None:
    with pytest.raises(ValueError, match=f"invalid {cls.__name__} '{bad}'"):
        cls(bad)


def test_different_identifier_types_never_equal() -> None:
    assert Symbol("SIM") != Venue("SIM")
    assert ClientId("SIM") != Venue("SIM")


def test_instrument_id_parts_split_on_last_dot() -> None:
    iid = InstrumentId("BRK.B.NYSE")
    assert iid.symbol == Symbol("BRK.B")
    assert iid.venue == Venue("NYSE")
    assert InstrumentId.new("BTCUSDT", "SIM") == InstrumentId("BTCUSDT.SIM")
    assert InstrumentId.new(Symbol("BTC-PERP"), Venue("SIM")).symbol == Symbol("BTC-PERP")


def test_trader_and_account_parts() -> None:
    assert TraderId("MY-TRADER-001").tag == "001"
    assert TraderId("MY-TRADER-001").name == "MY-TRADER"
    account = AccountId("SIM-ACC-7")
    assert account.venue == Venue("SIM")
    assert account.number == "ACC-7"


def test_identifiers_are_frozen_and_orderable() -> None:
    ident = Symbol("A")
    with pytest.raises(AttributeError):
        ident.value = "B"  # type: ignore[misc]
    assert sorted([Symbol("B"), Symbol("A")]) == [Symbol("A"), Symbol("B")]


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_validation_runs_on_decode(cls: type) -> None:
    good = msgspec.msgpack.encode(cls(VALID[cls]))
    assert msgspec.msgpack.decode(good, type=cls) == cls(VALID[cls])
    with pytest.raises(msgspec.ValidationError, match=cls.__name__):
        msgspec.msgpack.decode(msgspec.msgpack.encode([""]), type=cls)


_token = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="_-"),
    min_size=1,
    max_size=12,
)


@settings(deadline=None)  # CI hosts are shared; timing is not the property
@given(
    symbol=_token.map(lambda s: s.replace("-", "_") + ".X"),
    venue=_token.filter(lambda s: "." not in s),
)
def test_instrument_id_roundtrips_parts(symbol: str, venue: str) -> None:
    iid = InstrumentId.new(symbol, venue)
    assert iid.symbol.value == symbol
    assert iid.venue.value == venue
    assert InstrumentId(str(iid)) == iid
