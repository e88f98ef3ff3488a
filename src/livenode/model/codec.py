"""The bus codec: any `Message` to msgpack bytes and back, in one call.

`BusMessage` is the tagged union of every concrete message type; the tag (the
class name) is the first array element, so one `Decoder(BusMessage)` decodes
anything. `Codec` holds one reusable `Encoder` and `Decoder` (build one per
process or component and keep it); `encode`/`decode` are thin wrappers over a
default instance for code that has no codec at hand.

Malformed input never escapes as anything but `CodecError` (a `ValueError`):
random bytes, truncation, an unknown tag, a wrong field type and a value that
fails validation (a negative quantity, a bad id) are all reported the same way.
"""

from __future__ import annotations

from typing import Any, Final, TypeAlias

import msgspec

from livenode.model.commands import (
    CancelAllOrders,
    CancelOrder,
    ModifyOrder,
    SubmitOrder,
    SubscribeBars,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    UnsubscribeBars,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
)
from livenode.model.data import Bar, QuoteTick, TradeTick
from livenode.model.events import (
    AccountState,
    ComponentStateChanged,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
    PositionChanged,
    PositionClosed,
    PositionOpened,
    SourceEnded,
    StateReplayed,
    StrategiesStarted,
    TradingStateChanged,
)
from livenode.model.instruments import CurrencyPair, PerpetualContract
from livenode.model.messages import Message
from livenode.model.reports import (
    ExecutionMassStatus,
    FillReport,
    OrderStatusReport,
    PositionStatusReport,
)

#: Every concrete message type that may travel on the bus.
BUS_MESSAGE_TYPES: Final[tuple[type[Message], ...]] = (
    # market data and instruments
    QuoteTick,
    TradeTick,
    Bar,
    CurrencyPair,
    PerpetualContract,
    # commands
    SubmitOrder,
    ModifyOrder,
    CancelOrder,
    CancelAllOrders,
    SubscribeQuoteTicks,
    SubscribeTradeTicks,
    SubscribeBars,
    UnsubscribeQuoteTicks,
    UnsubscribeTradeTicks,
    UnsubscribeBars,
    # order events
    OrderInitialized,
    OrderDenied,
    OrderSubmitted,
    OrderAccepted,
    OrderRejected,
    OrderPendingUpdate,
    OrderPendingCancel,
    OrderModifyRejected,
    OrderCancelRejected,
    OrderUpdated,
    OrderTriggered,
    OrderFilled,
    OrderCanceled,
    OrderExpired,
    # position, account, component and trading-state events
    PositionOpened,
    PositionChanged,
    PositionClosed,
    AccountState,
    ComponentStateChanged,
    TradingStateChanged,
    StateReplayed,
    StrategiesStarted,
    SourceEnded,
    OrderStatusReport,
    FillReport,
    PositionStatusReport,
    ExecutionMassStatus,
)

BusMessage: TypeAlias = (
    QuoteTick
    | TradeTick
    | Bar
    | CurrencyPair
    | PerpetualContract
    | SubmitOrder
    | ModifyOrder
    | CancelOrder
    | CancelAllOrders
    | SubscribeQuoteTicks
    | SubscribeTradeTicks
    | SubscribeBars
    | UnsubscribeQuoteTicks
    | UnsubscribeTradeTicks
    | UnsubscribeBars
    | OrderInitialized
    | OrderDenied
    | OrderSubmitted
    | OrderAccepted
    | OrderRejected
    | OrderPendingUpdate
    | OrderPendingCancel
    | OrderModifyRejected
    | OrderCancelRejected
    | OrderUpdated
    | OrderTriggered
    | OrderFilled
    | OrderCanceled
    | OrderExpired
    | PositionOpened
    | PositionChanged
    | PositionClosed
    | AccountState
    | ComponentStateChanged
    | TradingStateChanged
    | StateReplayed
    | StrategiesStarted
    | SourceEnded
    | OrderStatusReport
    | FillReport
    | PositionStatusReport
    | ExecutionMassStatus
)

# Errors a malformed payload can provoke: msgspec's own (DecodeError covers
# ValidationError, including ValueError/TypeError raised by __post_init__) and,
# defensively, anything a validator might raise in an unforeseen corner.
_DECODE_ERRORS = (msgspec.DecodeError, ValueError, TypeError, ArithmeticError, RecursionError)
_ENCODE_ERRORS = (msgspec.EncodeError, TypeError, ValueError, OverflowError)


class CodecError(ValueError):
    """Bytes that are not a valid bus message, or a message that cannot be encoded."""


class Codec:
    """A reusable msgpack encoder/decoder pair for bus messages.

    Not thread-safe (msgspec's Encoder reuses an internal buffer): one per thread.
    """

    __slots__ = ("_decoder", "_encoder")

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder(BusMessage)

    def encode(self, msg: Message) -> bytes:
        """The msgpack bytes of `msg` (CodecError if it is not an encodable bus message)."""
        if not isinstance(msg, Message):
            raise CodecError(f"cannot encode {type(msg).__name__}: not a bus Message")
        try:
            return self._encoder.encode(msg)
        except _ENCODE_ERRORS as e:
            raise CodecError(f"cannot encode {type(msg).__name__}: {e}") from e

    def encode_into(self, msg: Message, buffer: bytearray, offset: int = 0) -> None:
        """Write the encoding of `msg` into `buffer` at `offset` (resizing it).

        Lets a transport put a topic prefix and the payload in one frame without
        an extra copy; `offset=-1` appends.
        """
        if not isinstance(msg, Message):
            raise CodecError(f"cannot encode {type(msg).__name__}: not a bus Message")
        try:
            self._encoder.encode_into(msg, buffer, offset)
        except _ENCODE_ERRORS as e:
            raise CodecError(f"cannot encode {type(msg).__name__}: {e}") from e

    def decode(self, data: bytes | bytearray | memoryview) -> BusMessage:
        """The message encoded in `data` (CodecError if malformed, with what was wrong)."""
        try:
            return self._decoder.decode(data)  # type: ignore[no-any-return]
        except _DECODE_ERRORS as e:
            raise CodecError(f"malformed bus message ({len(data)} bytes): {e}") from e


_DEFAULT_CODEC: Final = Codec()


def encode(msg: Message) -> bytes:
    """Encode with a shared default `Codec` (prefer holding your own `Codec`)."""
    return _DEFAULT_CODEC.encode(msg)


def decode(data: bytes | bytearray | memoryview) -> BusMessage:
    """Decode with a shared default `Codec` (prefer holding your own `Codec`)."""
    return _DEFAULT_CODEC.decode(data)


__all__ = ["BUS_MESSAGE_TYPES", "BusMessage", "Codec", "CodecError", "decode", "encode"]
