"""Shared helpers of the sim adapter tests: specs, configs, fixture paths."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.enums import OrderSide, OrderType, TimeInForce
from livenode.model.events import OrderInitialized
from livenode.model.identifiers import (
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TraderId,
)
from livenode.model.objects import Price, Quantity
from livenode.venues.sim.config import SimFeedConfig, SimInstrumentConfig, SimVenueConfig
from livenode.venues.sim.venue import build_spec

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "sim"

BTC_CFG = SimInstrumentConfig(
    symbol="BTCUSDT",
    kind="spot",
    base="BTC",
    quote="USDT",
    price_precision=2,
    price_increment="0.01",
    size_precision=5,
    size_increment="0.00001",
    min_quantity="0.00001",
    start_price="50000",
)
ETH_PERP_CFG = SimInstrumentConfig(
    symbol="ETHUSDT-PERP",
    kind="perpetual",
    base="ETH",
    quote="USDT",
    price_precision=2,
    price_increment="0.01",
    size_precision=3,
    size_increment="0.001",
    min_quantity="0.001",
    start_price="3000",
)
BTC_SPEC = build_spec(BTC_CFG)
ETH_SPEC = build_spec(ETH_PERP_CFG)


def venue_config(**feed: object) -> SimVenueConfig:
    """Two instruments (BTCUSDT spot, ETHUSDT-PERP), 1M USDT + 10 BTC, the given feed."""
    venue_kw: dict[str, object] = {
        "instruments": [BTC_CFG, ETH_PERP_CFG],
        "starting_balances": ["1000000 USDT", "10 BTC"],
    }
    venue_kw.update({k: feed.pop(k) for k in list(feed) if k in SimVenueConfig.__struct_fields__})
    return SimVenueConfig(feed=SimFeedConfig(**feed), **venue_kw)  # type: ignore[arg-type]


# -- commands ---------------------------------------------------------------------------

TRADER = TraderId("TESTER-001")
STRATEGY = StrategyId("Test-001")
BTC_ID = InstrumentId("BTCUSDT.SIM")
ETH_ID = InstrumentId("ETHUSDT-PERP.SIM")
_order_ids = itertools.count(1)


def submit(
    side: str = "BUY",
    order_type: str = "MARKET",
    qty: str = "0.1",
    price: str | None = None,
    trigger: str | None = None,
    tif: str = "GTC",
    instrument_id: InstrumentId = BTC_ID,
    ts: int = 0,
    **kw: Any,
) -> SubmitOrder:
    """A `SubmitOrder` with a fresh client order id; ``ts`` is init and trigger time."""
    init = OrderInitialized(
        trader_id=TRADER,
        strategy_id=STRATEGY,
        instrument_id=instrument_id,
        client_order_id=ClientOrderId(f"O-{next(_order_ids)}"),
        event_id="e",
        ts_event=ts,
        ts_init=ts,
        side=OrderSide(side),
        order_type=OrderType(order_type),
        quantity=Quantity.from_str(qty),
        price=None if price is None else Price.from_str(price),
        trigger_price=None if trigger is None else Price.from_str(trigger),
        time_in_force=TimeInForce(tif),
        **kw,
    )
    return SubmitOrder(
        trader_id=TRADER, strategy_id=STRATEGY, command_id="c", ts_init=ts, ts_trigger=ts,
        order=init,
    )


def modify(cmd: SubmitOrder, qty: str | None = None, price: str | None = None,
           trigger: str | None = None) -> ModifyOrder:
    return ModifyOrder(
        trader_id=TRADER, strategy_id=STRATEGY, command_id="c", ts_init=0, ts_trigger=0,
        instrument_id=cmd.order.instrument_id, client_order_id=cmd.order.client_order_id,
        quantity=None if qty is None else Quantity.from_str(qty),
        price=None if price is None else Price.from_str(price),
        trigger_price=None if trigger is None else Price.from_str(trigger),
    )


def cancel(cmd: SubmitOrder) -> CancelOrder:
    return CancelOrder(
        trader_id=TRADER, strategy_id=STRATEGY, command_id="c", ts_init=0, ts_trigger=0,
        instrument_id=cmd.order.instrument_id, client_order_id=cmd.order.client_order_id,
    )


def cancel_all(instrument_id: InstrumentId = BTC_ID, side: str | None = None) -> CancelAllOrders:
    return CancelAllOrders(
        trader_id=TRADER, strategy_id=STRATEGY, command_id="c", ts_init=0, ts_trigger=0,
        instrument_id=instrument_id, order_side=None if side is None else OrderSide(side),
    )


class Recorder:
    """Collects messages; `wait_for(pred)` returns once one arrived that satisfies it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, msg: Any) -> None:
        self.items.append(msg)
        self._changed.set()

    def of(self, cls: type) -> list[Any]:
        return [m for m in self.items if isinstance(m, cls)]

    async def wait_for(self, pred: Any, count: int = 1, timeout: float = 5.0) -> list[Any]:
        async def _wait() -> list[Any]:
            while True:
                hits = [m for m in self.items if pred(m)]
                if len(hits) >= count:
                    return hits
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(_wait(), timeout)

    async def wait_type(self, cls: type, count: int = 1, timeout: float = 5.0) -> list[Any]:
        return await self.wait_for(lambda m: isinstance(m, cls), count, timeout)


async def wait_until(pred: Any, timeout: float = 5.0) -> None:
    """Poll ``pred()`` on each loop turn (1 ms apart) until true; fail after ``timeout``."""

    async def _poll() -> None:
        while not pred():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(_poll(), timeout)
