"""A fill the node did not ask for (an order placed on the account from outside: another
session, a person at the venue's screen) is adopted as an EXTERNAL order: it is in the
summary's fills and positions, the account moves with it, and the stop's audit finds
the node's books equal to the venue's (single process, embedded venue)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import msgspec

from livenode.config import load_config
from livenode.model.enums import OrderSide
from livenode.model.identifiers import InstrumentId
from livenode.node.node import TradingNode
from tests.fixtures.multiprocess.outside import outside_order

ROOT = Path(__file__).resolve().parents[3]
IID = InstrumentId("BTCUSDT.SIM")


async def test_an_outside_fill_is_in_the_summary_and_the_books_match_the_venue() -> None:
    config = load_config(ROOT / "configs" / "sandbox.toml")
    # No strategy trades: the outside order is the only one.
    config = msgspec.structs.replace(config, strategies=[], trader_id="EXTFILL-001")
    node = TradingNode(config)
    node.build()
    run = asyncio.create_task(node.run_async())
    try:
        assert await asyncio.wait_for(node.wait_started(), 60)
        (client,) = node.kernel.exec_clients.values()
        venue = client.sim_venue  # type: ignore[attr-defined]
        venue.submit(outside_order("0.00500", OrderSide.BUY))
        deadline = time.monotonic() + 60
        while node.stats.fill_count < 1:
            assert time.monotonic() < deadline and not run.done(), "no fill adopted"
            await asyncio.sleep(0.02)
    finally:
        await asyncio.wait_for(node.stop_async("test over"), 60)
        await asyncio.wait_for(run, 30)
    summary = node.summary()
    node.dispose()
    (fill,) = summary["fills"]
    assert fill["strategy_id"] == "EXTERNAL" and Decimal(fill["quantity"]) == Decimal("0.005")
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    assert positions == {str(IID): Decimal("0.005")}
    (account,) = summary["accounts"]
    btc = {b["currency"]: Decimal(b["total"]) for b in account["balances"]}["BTC"]
    assert btc == Decimal("10.005")  # the sandbox account starts with 10 BTC
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    assert summary["shutdown"]["clean"] and summary["exit_code"] == 0
