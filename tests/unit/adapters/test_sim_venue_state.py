"""The sim venue's state file: a venue started again on it continues where it stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

import pytest

from livenode.model.events import AccountState, OrderAccepted, OrderCanceled, OrderFilled
from livenode.venues.sim.state_store import VenueStateError, VenueStateStore
from livenode.venues.sim.venue import SimVenueError
from tests.unit.adapters.sim_helpers import BTC_CFG, ETH_ID, cancel, submit
from tests.unit.adapters.test_sim_venue import static_venue


def _books(venue) -> dict:
    """Everything a node reconciles against, as comparable plain values."""
    orders = sorted(
        (str(r.client_order_id), str(r.venue_order_id), r.order_status.value, str(r.filled_qty))
        for r in venue.order_status_reports(open_only=False)
    )
    fills = sorted((str(f.trade_id), str(f.client_order_id), str(f.last_qty), str(f.last_px),
                    str(f.commission)) for f in venue.fill_reports())
    positions = sorted((str(p.instrument_id), p.position_side.value, str(p.quantity))
                       for p in venue.position_reports())
    state = venue.account_state()
    balances = sorted((b.currency.code, str(b.total), str(b.locked), str(b.free))
                      for b in state.balances)
    return {"orders": orders, "fills": fills, "positions": positions, "balances": balances}


async def test_restarted_venue_has_the_same_orders_fills_positions_and_balances(tmp_path: Path):
    state = tmp_path / "venue.sqlite"
    venue, events = await static_venue(tmp_path, state_path=str(state))
    buy = submit("BUY", "MARKET", "0.3")  # spot fill against the quote
    short = submit("SELL", "MARKET", "2", instrument_id=ETH_ID)  # perpetual position
    resting = submit("BUY", "LIMIT", "0.1", price="49000.00")  # open, locks funds
    gone = submit("BUY", "LIMIT", "0.1", price="48000.00")
    for cmd in (buy, short, resting, gone):
        venue.submit(cmd)
    await events.wait_type(OrderAccepted, count=4)
    venue.cancel(cancel(gone))
    await events.wait_type(OrderCanceled)
    await events.wait_for(lambda m: isinstance(m, OrderFilled) and m.last_qty.as_decimal() == 2)
    before = _books(venue)
    assert len(before["fills"]) >= 2 and len(before["orders"]) == 4
    venue.stop()
    venue.close()

    again, events2 = await static_venue(tmp_path, state_path=str(state))
    assert _books(again) == before
    # It continues: the restored resting order is cancelable, ids do not collide,
    # and a new fill moves on from the restored position.
    again.cancel(cancel(resting))
    await events2.wait_type(OrderCanceled)
    more = submit("SELL", "MARKET", "1", instrument_id=ETH_ID)
    again.submit(more)
    fill = (await events2.wait_type(OrderFilled))[0]
    assert str(fill.trade_id) not in {f[0] for f in before["fills"]}
    positions = {p[0]: p for p in _books(again)["positions"]}
    assert positions["ETHUSDT-PERP.SIM"][1:] == ("SHORT", "3.000")
    assert isinstance(events2.items[-1], AccountState)
    again.stop()
    again.close()


async def test_a_duplicate_client_order_id_is_refused_after_a_restart(tmp_path: Path):
    state = tmp_path / "venue.sqlite"
    venue, events = await static_venue(tmp_path, state_path=str(state))
    cmd = submit("BUY", "LIMIT", "0.1", price="49000.00")
    venue.submit(cmd)
    await events.wait_type(OrderAccepted)
    venue.stop()
    venue.close()
    again, events2 = await static_venue(tmp_path, state_path=str(state))
    again.submit(cmd)
    rejected = await events2.wait_for(lambda m: type(m).__name__ == "OrderRejected")
    assert "duplicate client order id" in rejected[0].reason
    again.stop()
    again.close()


async def test_a_state_file_of_another_venue_is_refused(tmp_path: Path):
    state = tmp_path / "venue.sqlite"
    VenueStateStore(state, "OTHER").close()
    with pytest.raises(VenueStateError, match="belongs to venue 'OTHER'"):
        await static_venue(tmp_path, state_path=str(state))


async def test_a_newer_schema_is_refused(tmp_path: Path):
    state = tmp_path / "venue.sqlite"
    VenueStateStore(state, "SIM").close()
    with sqlite3.connect(state) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(VenueStateError, match="schema 99, newer"):
        await static_venue(tmp_path, state_path=str(state))


async def test_orders_of_an_instrument_no_longer_configured_are_refused(tmp_path: Path):
    state = tmp_path / "venue.sqlite"
    venue, events = await static_venue(tmp_path, state_path=str(state))
    venue.submit(submit("SELL", "LIMIT", "1", price="3100.00", instrument_id=ETH_ID))
    await events.wait_type(OrderAccepted)
    venue.stop()
    venue.close()
    with pytest.raises(SimVenueError, match="ETHUSDT-PERP, which this venue's config does not"):
        await static_venue(tmp_path, state_path=str(state), instruments=[BTC_CFG])



def test_amounts_beyond_64_bits_round_trip(tmp_path: Path):
    # Exact position costs become fractions with huge terms after partial closes, and
    # raw amounts at high precisions pass 2**63: the file must hold them exactly.
    from fractions import Fraction

    from livenode.venues.sim.account import NetPosition

    class Account:
        totals: ClassVar[dict[str, int]] = {"USDT": 10**25, "BTC": -(10**20)}
        positions: ClassVar[dict[str, NetPosition]] = {
            "ETHUSDT-PERP": NetPosition(
                -(10**19), Fraction(10**40, 7), Fraction(-(10**30), 3), 1, 2
            )
        }

        def locks(self):
            return {"O-1": ("USDT", 10**22)}

    store = VenueStateStore(tmp_path / "big.sqlite", "SIM")
    store.save([], [], Account(), {"venue_order_seq": 3})
    store.close()
    again = VenueStateStore(tmp_path / "big.sqlite", "SIM")
    stored = again.load()
    again.close()
    assert stored is not None
    assert stored.totals == Account.totals
    assert stored.locks == {"O-1": ("USDT", 10**22)}
    assert stored.positions == Account.positions
    assert stored.counters == {"venue_order_seq": 3}


async def test_a_state_file_that_cannot_be_written_stops_the_batch_and_says_so(tmp_path: Path):
    state = tmp_path / "venue.sqlite"
    venue, events = await static_venue(tmp_path, state_path=str(state))
    failures: list[Exception] = []
    venue.on_state_failure = failures.append
    venue._store._db.execute("DROP TABLE fills")  # the file goes bad under the venue
    before = len(events.items)
    with pytest.raises(VenueStateError, match="no such table: fills"):
        venue._do_submit(submit("BUY", "MARKET", "0.1"))  # matched at once, then saved
    assert len(failures) == 1 and "no such table: fills" in str(failures[0])
    # No event of the batch went out: no client hears of what the file does not hold.
    assert len(events.items) == before
    venue.stop()
    venue.close()


async def test_a_cancel_of_an_order_the_venue_does_not_know_is_answered_with_a_state_file(
    tmp_path: Path,
):
    # The answer to a cancel of an unknown order carries a stand-in order with no
    # instrument; saving the batch used to raise, so the rejection never went out.
    venue, events = await static_venue(tmp_path, state_path=str(tmp_path / "venue.sqlite"))
    venue.cancel(cancel(submit("BUY", "LIMIT", "0.1", price="49000.00")))
    rejected = await events.wait_for(lambda m: type(m).__name__ == "OrderCancelRejected")
    assert "not found" in rejected[0].reason
    venue.stop()
    venue.close()
