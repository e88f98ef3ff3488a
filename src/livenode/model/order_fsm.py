"""The order state machine as data: every allowed (status, event type) pair.

`ORDER_TRANSITIONS` maps (current status, event type) to the target status or
to a rule resolved by the order (`FILL`, `LATE_FILL`, `PREVIOUS`, `SAME`); see
`livenode.model.orders` for why each real-world transition is admitted. A pair
absent from the table raises `InvalidStateTransition`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from livenode.model.enums import OrderStatus
from livenode.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
)
from livenode.model.identifiers import ClientOrderId


class InvalidStateTransition(ValueError):
    """An event that cannot happen to an order in its current status.

    Attributes: `order_id`, `status` (current), `event` (the refused event).
    """

    def __init__(
        self, order_id: ClientOrderId, status: OrderStatus, event: OrderEvent, reason: str = ""
    ) -> None:
        self.order_id = order_id
        self.status = status
        self.event = event
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"order {order_id}: invalid transition {status.value} -> {type(event).__name__}{detail}"
        )


class _Rule:
    """Where a transition leads when the target depends on the order."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Target of a fill: FILLED when nothing is left, else PARTIALLY_FILLED.
FILL: Final = _Rule("FILL")
#: Target of a late fill (after CANCELED/EXPIRED): FILLED if complete, else unchanged.
LATE_FILL: Final = _Rule("LATE_FILL")
#: Back to the status before the pending request.
PREVIOUS: Final = _Rule("PREVIOUS")
#: Status unchanged (the event is recorded).
SAME: Final = _Rule("SAME")

_S = OrderStatus
#: What a transition leads to: a status, or a rule the order resolves.
Target = OrderStatus | _Rule


def _build_transitions() -> dict[tuple[OrderStatus, type[OrderEvent]], Target]:
    t: dict[tuple[OrderStatus, type[OrderEvent]], Target] = {
        (_S.INITIALIZED, OrderDenied): _S.DENIED,
        (_S.INITIALIZED, OrderSubmitted): _S.SUBMITTED,
        # Reconciled/external orders appear without their submission:
        (_S.INITIALIZED, OrderAccepted): _S.ACCEPTED,
        (_S.INITIALIZED, OrderRejected): _S.REJECTED,
        (_S.INITIALIZED, OrderCanceled): _S.CANCELED,
        (_S.INITIALIZED, OrderExpired): _S.EXPIRED,
        (_S.SUBMITTED, OrderAccepted): _S.ACCEPTED,
        (_S.SUBMITTED, OrderRejected): _S.REJECTED,
        (_S.SUBMITTED, OrderCanceled): _S.CANCELED,  # unacknowledged IOC/FOK
        (_S.SUBMITTED, OrderExpired): _S.EXPIRED,
        (_S.SUBMITTED, OrderTriggered): _S.TRIGGERED,
        (_S.SUBMITTED, OrderPendingUpdate): _S.PENDING_UPDATE,
        (_S.SUBMITTED, OrderPendingCancel): _S.PENDING_CANCEL,
        (_S.SUBMITTED, OrderUpdated): SAME,
        (_S.SUBMITTED, OrderFilled): FILL,  # fill overtook the ack
        (_S.ACCEPTED, OrderRejected): _S.REJECTED,  # e.g. a stop-limit refused on trigger
        (_S.ACCEPTED, OrderCanceled): _S.CANCELED,
        (_S.ACCEPTED, OrderExpired): _S.EXPIRED,
        (_S.ACCEPTED, OrderTriggered): _S.TRIGGERED,
        (_S.ACCEPTED, OrderPendingUpdate): _S.PENDING_UPDATE,
        (_S.ACCEPTED, OrderPendingCancel): _S.PENDING_CANCEL,
        (_S.ACCEPTED, OrderUpdated): SAME,  # venue-initiated amendment
        (_S.ACCEPTED, OrderFilled): FILL,
        (_S.TRIGGERED, OrderRejected): _S.REJECTED,
        (_S.TRIGGERED, OrderCanceled): _S.CANCELED,
        (_S.TRIGGERED, OrderExpired): _S.EXPIRED,
        (_S.TRIGGERED, OrderPendingUpdate): _S.PENDING_UPDATE,
        (_S.TRIGGERED, OrderPendingCancel): _S.PENDING_CANCEL,
        (_S.TRIGGERED, OrderUpdated): SAME,
        (_S.TRIGGERED, OrderFilled): FILL,
        (_S.PARTIALLY_FILLED, OrderCanceled): _S.CANCELED,
        (_S.PARTIALLY_FILLED, OrderExpired): _S.EXPIRED,
        (_S.PARTIALLY_FILLED, OrderPendingUpdate): _S.PENDING_UPDATE,
        (_S.PARTIALLY_FILLED, OrderPendingCancel): _S.PENDING_CANCEL,
        (_S.PARTIALLY_FILLED, OrderUpdated): SAME,
        (_S.PARTIALLY_FILLED, OrderFilled): FILL,
        (_S.PENDING_UPDATE, OrderUpdated): PREVIOUS,
        (_S.PENDING_UPDATE, OrderModifyRejected): PREVIOUS,
        (_S.PENDING_UPDATE, OrderCancelRejected): SAME,  # a stale cancel answer
        (_S.PENDING_UPDATE, OrderPendingUpdate): _S.PENDING_UPDATE,  # several requests
        (_S.PENDING_UPDATE, OrderPendingCancel): _S.PENDING_CANCEL,
        (_S.PENDING_UPDATE, OrderAccepted): _S.ACCEPTED,  # ack of a submit overtaken by a modify
        (_S.PENDING_UPDATE, OrderRejected): _S.REJECTED,
        (_S.PENDING_UPDATE, OrderCanceled): _S.CANCELED,
        (_S.PENDING_UPDATE, OrderExpired): _S.EXPIRED,
        (_S.PENDING_UPDATE, OrderTriggered): _S.TRIGGERED,
        (_S.PENDING_UPDATE, OrderFilled): FILL,
        (_S.PENDING_CANCEL, OrderCancelRejected): PREVIOUS,
        (_S.PENDING_CANCEL, OrderModifyRejected): SAME,  # a stale modify answer
        (_S.PENDING_CANCEL, OrderUpdated): SAME,  # a modify completed before the cancel
        (_S.PENDING_CANCEL, OrderPendingCancel): _S.PENDING_CANCEL,  # several requests
        (_S.PENDING_CANCEL, OrderAccepted): _S.ACCEPTED,  # ack of a submit overtaken by a cancel
        (_S.PENDING_CANCEL, OrderRejected): _S.REJECTED,
        (_S.PENDING_CANCEL, OrderCanceled): _S.CANCELED,
        (_S.PENDING_CANCEL, OrderExpired): _S.EXPIRED,
        (_S.PENDING_CANCEL, OrderFilled): FILL,  # fill raced the cancel
        (_S.CANCELED, OrderFilled): LATE_FILL,  # fill executed before the cancel, reported after
        (_S.EXPIRED, OrderFilled): LATE_FILL,
    }
    # Modify/cancel rejects outside PENDING_* are informational: the answer to a
    # request that crossed a fill, a cancel or an update, or that was sent for an
    # order already closed (denied included: the strategy must hear the answer), or
    # for an order a restarted exec worker holds only as sent again (INITIALIZED while
    # it asks the venue whether it has it).
    for status in (
        _S.INITIALIZED,
        _S.DENIED,
        _S.SUBMITTED,
        _S.ACCEPTED,
        _S.TRIGGERED,
        _S.PARTIALLY_FILLED,
        _S.FILLED,
        _S.CANCELED,
        _S.EXPIRED,
        _S.REJECTED,
    ):
        t[(status, OrderModifyRejected)] = SAME
        t[(status, OrderCancelRejected)] = SAME
    return t


#: Every allowed (status, event type) -> target status or rule (FILL, LATE_FILL, PREVIOUS, SAME).
ORDER_TRANSITIONS: Final[Mapping[tuple[OrderStatus, type[OrderEvent]], Target]] = MappingProxyType(
    _build_transitions()
)

#: The statuses of an unanswered modify/cancel request.
PENDING: Final = (_S.PENDING_UPDATE, _S.PENDING_CANCEL)

__all__ = [
    "FILL",
    "LATE_FILL",
    "ORDER_TRANSITIONS",
    "PENDING",
    "PREVIOUS",
    "SAME",
    "InvalidStateTransition",
    "Target",
]
