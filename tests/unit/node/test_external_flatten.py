"""The stop's flatten on a netting account that an EXTERNAL fill offsets (single process,
embedded venue): a strategy holds a short position, another session buys most of it
(or more) back on the same account, and at the stop the strategy's reduce-only close
takes only what the account's net lets it close (nothing when the account is long
already). The venue refuses nothing and ends flat (or equal to the books), the audit
finds the books equal to the venue's, the stop is clean."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from livenode.bus import topics
from livenode.config import load_config
from livenode.config.structs import ImportableStrategyConfig
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID
from livenode.model.enums import OrderSide, TimeInForce
from livenode.model.identifiers import InstrumentId, StrategyId
from livenode.model.objects import Quantity
from livenode.node.node import TradingNode
from tests.fixtures.multiprocess.books import traded
from tests.fixtures.multiprocess.outside import outside_order
from tests.fixtures.multiprocess.strategies import HoldConfig

ROOT = Path(__file__).resolve().parents[3]
IID = InstrumentId("BTCUSDT.SIM")
HOLD = StrategyId("Hold-001")


def hold_strategy(side: str, quantity: str) -> ImportableStrategyConfig:
    return ImportableStrategyConfig(
        path="tests.fixtures.multiprocess.strategies:Hold",
        config_path="tests.fixtures.multiprocess.strategies:HoldConfig",
        config=msgspec.to_builtins(HoldConfig(side=side, quantity=quantity)),
    )


class EventWaiter:
    """Set once an event on `topic` that passes `check` arrives on the node's bus
    (subscribed at once)."""

    def __init__(self, node: TradingNode, topic: str,
                 check: Callable[[Any], bool] = lambda event: True) -> None:
        self._bus, self._topic, self._check = node.kernel.msgbus, topic, check
        self._seen = asyncio.Event()
        self._bus.subscribe(topic, self._on_event)

    def _on_event(self, event: Any) -> None:
        if self._check(event):
            self._seen.set()

    async def wait(self, run: asyncio.Task[Any]) -> None:
        """Until the event came; fails if the node ended first or after 60 s."""
        waiter = asyncio.ensure_future(self._seen.wait())
        try:
            await asyncio.wait({waiter, run}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            self._bus.unsubscribe(self._topic, self._on_event)
        assert self._seen.is_set(), f"no event on {self._topic} (node done: {run.done()})"


async def run_offset_and_stop(external_qty: str) -> tuple[dict[str, Any], int]:
    """Hold short 0.05358, an outside BUY of `external_qty`, stop; (summary, venue raw net)."""
    config = load_config(ROOT / "configs" / "sandbox.toml")
    config = msgspec.structs.replace(
        config, strategies=[hold_strategy("SELL", "0.05358")], trader_id="EXTFLAT-001")
    node = TradingNode(config)
    node.build()
    # The entry market order may fill in parts: held once the position is whole.
    held = EventWaiter(node, topics.position_events(HOLD),
                       lambda event: event.quantity == Quantity.from_str("0.05358"))
    (client,) = node.kernel.exec_clients.values()
    venue = client.sim_venue  # type: ignore[attr-defined]
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), 60)
        await held.wait(run)
        # GTC: bought whole, over as many quotes as it takes (one EXTERNAL fill each).
        offset = EventWaiter(node, topics.position_events(EXTERNAL_STRATEGY_ID),
                             lambda event: event.quantity == Quantity.from_str(external_qty))
        venue.submit(outside_order(external_qty, OrderSide.BUY,
                                   time_in_force=TimeInForce.GTC))
        await offset.wait(run)
    finally:
        await asyncio.wait_for(node.stop_async("test over"), 60)
        await asyncio.wait_for(run, 30)
    summary = node.summary()
    venue_net = venue.account.position("BTCUSDT")
    node.dispose()
    return summary, venue_net


def _nets(summary: dict[str, Any]) -> dict[str, Decimal]:
    return {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}


async def test_the_stops_close_takes_only_what_the_external_offset_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="livenode.trading.Hold-001"):
        summary, venue_net = await run_offset_and_stop("0.05000")
    assert ("position BTCUSDT.SIM-Hold-001 SHORT 0.05358 is offset on account SIM-001 by "
            "EXTERNAL +0.05000: the account is net -0.00358 in BTCUSDT.SIM, so the "
            "reduce-only close takes 0.00358 only") in caplog.text
    # The close bought back 0.00358, not 0.05358: the account is flat, no close refused.
    assert traded(summary, "Hold-001") == [("SELL", Decimal("0.05358")),
                                           ("BUY", Decimal("0.00358"))], summary["fills"]
    assert traded(summary, "EXTERNAL") == [("BUY", Decimal("0.05"))]
    assert summary["rejections"] == {} and summary["risk_denials"] == {}, summary
    assert venue_net == 0 and _nets(summary) == {str(IID): Decimal(0)}
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    assert summary["strategy_states"]["Hold-001"]["manage_stop_timed_out"] is False
    assert summary["shutdown"]["clean"] and summary["exit_code"] == 0, summary["shutdown"]


async def test_no_close_is_sent_when_the_offset_leaves_the_account_net_the_other_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="livenode.trading.Hold-001"):
        summary, venue_net = await run_offset_and_stop("0.06000")
    assert ("by EXTERNAL +0.06000: the account is net +0.00642 (the other way) in "
            "BTCUSDT.SIM, so no close is sent") in caplog.text
    assert traded(summary, "Hold-001") == [("SELL", Decimal("0.05358"))], summary["fills"]
    assert summary["rejections"] == {} and summary["risk_denials"] == {}, summary
    # The venue holds what the node's books add up to: -0.05358 + 0.06.
    assert venue_net == 642 and _nets(summary) == {str(IID): Decimal("0.00642")}
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    assert summary["shutdown"]["clean"] and summary["exit_code"] == 0, summary["shutdown"]
