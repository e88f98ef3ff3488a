"""Topic names of the bus: dotted, most specific last, so prefix filtering works.

The one place these strings are built; components never format topics themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livenode.model.data import BarType
    from livenode.model.identifiers import AccountId, InstrumentId, StrategyId, Venue

RISK_COMMANDS = "commands.risk"
RISK_EVENTS = "events.risk"
# A data or execution worker finished replaying its state (`StateReplayed`).
EXECUTION_REPLAYED = "events.recovery"
# A data worker's source ended and it asks for the node's stop (`SourceEnded`),
# to the traders ("data." reaches them from every data worker).
SOURCE_ENDED = "data.source_ended"
ALL_DATA_COMMANDS = "commands.data.*"
ALL_EXEC_COMMANDS = "commands.exec.*"
ALL_ORDER_EVENTS = "events.order.*"
ALL_POSITION_EVENTS = "events.position.*"
ALL_ACCOUNT_EVENTS = "events.account.*"
ALL_QUOTES = "data.quotes.*"
ALL_TRADES = "data.trades.*"
ALL_BARS = "data.bars.*"
ALL_INSTRUMENTS = "data.instrument.*"


def quotes(instrument_id: InstrumentId) -> str:
    return f"data.quotes.{instrument_id.venue}.{instrument_id.symbol}"


def trades(instrument_id: InstrumentId) -> str:
    return f"data.trades.{instrument_id.venue}.{instrument_id.symbol}"


def bars(bar_type: BarType) -> str:
    return f"data.bars.{bar_type}"


def instrument(instrument_id: InstrumentId) -> str:
    return f"data.instrument.{instrument_id.venue}.{instrument_id.symbol}"


def data_commands(venue: Venue) -> str:
    return f"commands.data.{venue}"


def exec_commands(venue: Venue) -> str:
    return f"commands.exec.{venue}"


def order_events(strategy_id: StrategyId) -> str:
    return f"events.order.{strategy_id}"


def position_events(strategy_id: StrategyId) -> str:
    return f"events.position.{strategy_id}"


def account_events(account_id: AccountId) -> str:
    return f"events.account.{account_id}"


def component_events(component_id: str) -> str:
    return f"events.component.{component_id}"


def exact(topic: str) -> str:
    """The subscription prefix that takes exactly `topic` and no longer one (frames
    on the ZeroMQ bus are "topic NUL envelope")."""
    return topic + "\x00"
