"""Fills reconciliation inferred, and their confirmation by the venue's own fills.

When a venue reports an order filled further than the node knows and no fill report
explains it (FIX after a reconnect: no fill history), reconciliation applies one
inferred fill (trade id ``RECON-...``) for the missing quantity. The venue's own
executions may still arrive afterwards (resent reports). `InferredFills` remembers the
quantity inferred per order; a venue fill within it confirms it: its trade id is
recorded on the order (a resend of it is then a duplicate) and nothing is applied
twice. A fill beyond the inferred quantity is a new fill, applied as usual.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from livenode.model.events import OrderFilled
from livenode.model.identifiers import ClientOrderId
from livenode.model.objects import Quantity
from livenode.model.orders import Order

__all__ = ["InferredFills"]

_log = logging.getLogger("livenode.engines.reconciliation")


class InferredFills:
    """The quantity inferred per order that no venue fill has confirmed yet."""

    def __init__(self) -> None:
        self._open: dict[ClientOrderId, Decimal] = {}
        self.confirmed = 0

    def inferred(self, order: Order, qty: Quantity) -> None:
        """An inferred fill of `qty` was applied to `order`."""
        coid = order.client_order_id
        self._open[coid] = self._open.get(coid, Decimal(0)) + qty.as_decimal()

    def confirms(self, order: Order, fill: OrderFilled) -> bool:
        """True when `fill` (the venue's own) is part of what an inferred fill of
        `order` already counts: then recorded on the order, to be applied no further."""
        if not self._open:
            return False
        coid = order.client_order_id
        remaining = self._open.get(coid)
        qty = fill.last_qty.as_decimal()
        if remaining is None or qty > remaining or fill.trade_id in order.trade_ids:
            return False
        remaining -= qty
        if remaining:
            self._open[coid] = remaining
        else:
            del self._open[coid]
        order.confirm_trade_id(fill.trade_id)
        self.confirmed += 1
        _log.warning(
            "reconciliation: venue fill %s (%s @ %s) of %s confirms the fill inferred for it "
            "(average price %s); recorded, not applied twice", fill.trade_id, fill.last_qty,
            fill.last_px, coid, order.avg_px,
        )
        return True
