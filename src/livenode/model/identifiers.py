"""Identifiers: small frozen structs wrapping one validated string.

Each identifier is a distinct type (a `Venue` never equals a `Symbol` holding
the same text), hashable and orderable, validated in `__post_init__`, which
msgspec runs both on construction and on decode, so a malformed id can never
enter the node from the wire. `str(x)` is the raw value.

Validation is memoised per class: a string that passed a class's checks once is
remembered (in a bounded set, cleared when full), so the next construction or
decode of the same id is one set lookup instead of the checks. The checks are a
pure function of the exact `str`, so the memo never accepts what they reject.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar, Self

from livenode.model.messages import ValueStruct

#: Most strings remembered as valid per identifier class; the set is cleared
#: when full (ids on the hot path are few and come back at once after a clear).
MEMO_LIMIT = 4096


def _invalid(cls: type, value: object, why: str) -> ValueError:
    return ValueError(f"invalid {cls.__name__} {value!r}: {why}")


def _check_token(ident: Identifier | type[Identifier], value: object) -> str:
    """`value` if it is a non-empty str without whitespace, else ValueError."""
    # `isprintable()` rejects control characters; spaces are printable, hence the
    # extra test. Ids end up in topics, file names and log lines.
    if type(value) is not str or not value or not value.isprintable() or " " in value:
        cls = ident if isinstance(ident, type) else type(ident)
        raise _invalid(cls, value, "expected a non-empty string without whitespace")
    return value


class Identifier(ValueStruct, frozen=True, order=True):
    """Base of all identifiers: one non-empty string without whitespace.

    Subclasses with format rules override `_check_format` (called with a string
    that passed `_check_token`, only when the memo misses).
    """

    value: str

    # The strings that passed this class's checks (each subclass gets its own).
    _valid: ClassVar[set[str]] = set()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._valid = set()

    def __post_init__(self) -> None:
        # Hot path (every construction and every decode): one set lookup when
        # this exact string was validated before for this class.
        value = self.value
        if type(value) is not str or value not in self._valid:
            self._validate(value)

    @classmethod
    def _validate(cls, value: object) -> None:
        """The full checks; remember `value` if it passes."""
        text = _check_token(cls, value)
        cls._check_format(text)
        valid = cls._valid
        if len(valid) >= MEMO_LIMIT:
            valid.clear()
        valid.add(text)

    @classmethod
    def _check_format(cls, value: str) -> None:
        """Hook: raise ValueError if `value` breaks the class's format rules."""

    @classmethod
    def from_str(cls, value: str) -> Self:
        """Alias of the constructor, for symmetry with the value types."""
        return cls(value)

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"


class TraderId(Identifier, frozen=True):
    """The trader (node) id, "NAME-TAG", e.g. "TRADER-001".

    The tag is the part after the last dash; both parts must be non-empty.
    """

    @classmethod
    def _check_format(cls, value: str) -> None:
        name, dash, tag = value.rpartition("-")
        if not dash or not name or not tag:
            raise _invalid(cls, value, 'expected "NAME-TAG", e.g. "TRADER-001"')

    @property
    def name(self) -> str:
        """The part before the last dash."""
        return self.value.rpartition("-")[0]

    @property
    def tag(self) -> str:
        """The part after the last dash."""
        return self.value.rpartition("-")[2]


class StrategyId(Identifier, frozen=True):
    """A strategy id, conventionally "{ClassName}-{order_id_tag}", e.g. "EMACross-001"."""


class Symbol(Identifier, frozen=True):
    """The venue's ticker of an instrument, e.g. "BTCUSDT" (may contain dots)."""


class Venue(Identifier, frozen=True):
    """A trading venue, e.g. "SIM". Must not contain a dot (it ends `InstrumentId`)."""

    @classmethod
    def _check_format(cls, value: str) -> None:
        if "." in value:
            raise _invalid(cls, value, "a venue must not contain '.'")


@lru_cache(maxsize=8192)
def _split_instrument_id(value: str) -> tuple[Symbol, Venue]:
    # Memoised because `.symbol`/`.venue` are read for every topic a quote is
    # published on; ids are few, so the bounded cache nearly always hits.
    symbol, _, venue = value.rpartition(".")
    return Symbol(symbol), Venue(venue)


class InstrumentId(Identifier, frozen=True):
    """An instrument, "SYMBOL.VENUE" (split on the last dot), e.g. "BTCUSDT.SIM"."""

    @classmethod
    def _check_format(cls, value: str) -> None:
        symbol, dot, venue = value.rpartition(".")
        if not dot or not symbol or not venue:
            raise _invalid(cls, value, 'expected "SYMBOL.VENUE", e.g. "BTCUSDT.SIM"')

    @classmethod
    def new(cls, symbol: Symbol | str, venue: Venue | str) -> InstrumentId:
        """Build from its parts."""
        return cls(f"{symbol}.{venue}")

    @property
    def symbol(self) -> Symbol:
        """The part before the last dot."""
        return _split_instrument_id(self.value)[0]

    @property
    def venue(self) -> Venue:
        """The part after the last dot."""
        return _split_instrument_id(self.value)[1]


class ClientOrderId(Identifier, frozen=True):
    """The order id this node assigns (unique per trader)."""


class VenueOrderId(Identifier, frozen=True):
    """The order id the venue assigns."""


class AccountId(Identifier, frozen=True):
    """An account, "VENUE-NUMBER", e.g. "SIM-001"; `.venue` is the part before the first dash."""

    @classmethod
    def _check_format(cls, value: str) -> None:
        venue, dash, number = value.partition("-")
        if not dash or not venue or not number or "." in venue:
            raise _invalid(cls, value, 'expected "VENUE-NUMBER", e.g. "SIM-001"')

    @property
    def venue(self) -> Venue:
        """The issuing venue (the part before the first dash)."""
        return Venue(self.value.partition("-")[0])

    @property
    def number(self) -> str:
        """The account number at the venue (the part after the first dash)."""
        return self.value.partition("-")[2]


class PositionId(Identifier, frozen=True):
    """A position id; for netting positions "{instrument_id}-{strategy_id}"."""


class TradeId(Identifier, frozen=True):
    """The venue's id of one execution (fill)."""


class ClientId(Identifier, frozen=True):
    """A data or execution client, usually named after its venue."""


class ComponentId(Identifier, frozen=True):
    """A component of the node (engine, strategy, client, ...)."""


__all__ = [
    "AccountId",
    "ClientId",
    "ClientOrderId",
    "ComponentId",
    "Identifier",
    "InstrumentId",
    "PositionId",
    "StrategyId",
    "Symbol",
    "TradeId",
    "TraderId",
    "Venue",
    "VenueOrderId",
]
