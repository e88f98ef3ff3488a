"""Enumerations of the model. Values are the member names, so they read well on
the wire, in logs and in configuration files."""

from __future__ import annotations

from enum import Enum, unique


@unique
class OrderSide(Enum):
    """Side of an order or a fill."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> OrderSide:
        """The other side."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


@unique
class OrderType(Enum):
    """How an order executes."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"


@unique
class TimeInForce(Enum):
    """How long an order stays working."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"
    DAY = "DAY"


@unique
class OrderStatus(Enum):
    """Status of an order (see `livenode.model.orders` for the state machine)."""

    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    TRIGGERED = "TRIGGERED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


@unique
class PositionSide(Enum):
    """Side of a position."""

    FLAT = "FLAT"
    LONG = "LONG"
    SHORT = "SHORT"


@unique
class LiquiditySide(Enum):
    """Whether a fill added (MAKER) or took (TAKER) liquidity."""

    MAKER = "MAKER"
    TAKER = "TAKER"


@unique
class AggressorSide(Enum):
    """Side of the aggressing order of a trade."""

    BUYER = "BUYER"
    SELLER = "SELLER"
    NO_AGGRESSOR = "NO_AGGRESSOR"


@unique
class AccountType(Enum):
    """Kind of account."""

    CASH = "CASH"
    MARGIN = "MARGIN"


@unique
class OmsType(Enum):
    """Order management: one position per instrument and strategy (NETTING) or many."""

    NETTING = "NETTING"
    HEDGING = "HEDGING"


@unique
class TradingState(Enum):
    """Trading state enforced by the risk engine."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


@unique
class BarAggregation(Enum):
    """What closes a bar: elapsed time, a tick count or traded volume."""

    SECOND = "SECOND"
    MINUTE = "MINUTE"
    TICK = "TICK"
    VOLUME = "VOLUME"


@unique
class PriceType(Enum):
    """Which price a bar or a mark is built from."""

    BID = "BID"
    ASK = "ASK"
    MID = "MID"
    LAST = "LAST"


@unique
class ComponentState(Enum):
    """Lifecycle state of a component (see `livenode.core.component`)."""

    PRE_INITIALIZED = "PRE_INITIALIZED"
    READY = "READY"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    DEGRADED = "DEGRADED"
    FAULTED = "FAULTED"
    DISPOSED = "DISPOSED"


__all__ = [
    "AccountType",
    "AggressorSide",
    "BarAggregation",
    "ComponentState",
    "LiquiditySide",
    "OmsType",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PositionSide",
    "PriceType",
    "TimeInForce",
    "TradingState",
]
