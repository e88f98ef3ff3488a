"""Recovery from the venue when there is no cache database.

A node (or a multiprocess node's exec worker) restarted without a database finds
nothing of a venue in its cache. The venue still knows what happened, and the node's
own client order ids say whose each order was (`OrderFactory`:
``O-{run stamp}-{strategy id}-{n}``), so:

- `OwnOrders.strategy_of` gives the strategy of this node that made an order id
  (EXTERNAL for anyone else's): reconciliation recovers such an open order as that
  strategy's (tagged ``RECOVERED``), not as an EXTERNAL one;
- `rebuild_positions` rebuilds every netting position from the venue's fill reports,
  each fill to its strategy, quietly (no event on the bus: what a database load
  does). A position older than the venue's fill history no longer sums up; the
  position check then halts the instrument and the audit names the difference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from livenode.core.uuid import new_id
from livenode.engines.positions import apply_fill_to_position
from livenode.model.enums import OrderType
from livenode.model.events import OrderFilled
from livenode.model.identifiers import ClientOrderId, PositionId, StrategyId, TraderId
from livenode.model.position import netting_position_id

if TYPE_CHECKING:
    from livenode.cache.cache import Cache
    from livenode.engines.clients import LiveExecutionClient
    from livenode.model.reports import FillReport

__all__ = ["EXTERNAL_STRATEGY_ID", "OwnOrders", "rebuild_positions"]

#: The strategy of orders and fills the node did not make.
EXTERNAL_STRATEGY_ID = StrategyId("EXTERNAL")
#: A client order id made by a strategy's `OrderFactory`.
_OWN_ORDER_ID = re.compile(r"^O-\d{8}-\d{6}-(?P<strategy>.+)-\d+$")


class OwnOrders:
    """Tells this node's orders from others' by their client order ids."""

    def __init__(self, strategy_ids: frozenset[str] = frozenset()) -> None:
        self.strategy_ids = strategy_ids

    def strategy_of(self, client_order_id: ClientOrderId | None) -> StrategyId:
        """The strategy of this node whose order factory made `client_order_id`, else
        EXTERNAL."""
        if client_order_id is None or not self.strategy_ids:
            return EXTERNAL_STRATEGY_ID
        match = _OWN_ORDER_ID.match(client_order_id.value)
        if match is None or match["strategy"] not in self.strategy_ids:
            return EXTERNAL_STRATEGY_ID
        return StrategyId(match["strategy"])


def rebuild_positions(
    cache: Cache, client: LiveExecutionClient, fills: list[FillReport], own: OwnOrders,
    trader_id: TraderId, now_ns: int,
) -> set[PositionId]:
    """Rebuild in `cache` the netting positions `fills` make at `client`'s venue (its
    instruments added first: no data client may have published them yet); returns the
    positions that took a fill."""
    for instrument in client.venue_instruments():
        if cache.instrument(instrument.id) is None:
            cache.add_instrument(instrument)
    rebuilt: set[PositionId] = set()
    for fill in sorted(fills, key=lambda f: f.ts_event):
        strategy_id = own.strategy_of(fill.client_order_id)
        position_id = netting_position_id(fill.instrument_id, strategy_id)
        event = OrderFilled(
            trader_id=trader_id, strategy_id=strategy_id, instrument_id=fill.instrument_id,
            client_order_id=fill.client_order_id or ClientOrderId(f"EXT-{fill.venue_order_id}"),
            venue_order_id=fill.venue_order_id, account_id=fill.account_id,
            trade_id=fill.trade_id, position_id=position_id, order_side=fill.order_side,
            order_type=OrderType.MARKET, last_qty=fill.last_qty, last_px=fill.last_px,
            currency=fill.commission.currency, commission=fill.commission,
            liquidity_side=fill.liquidity_side, event_id=new_id(), ts_event=fill.ts_event,
            ts_init=now_ns,
        )
        if apply_fill_to_position(cache, event):
            rebuilt.add(position_id)
    return rebuilt
