"""Both sim venues implement the one `SimVenueAPI` the sim clients use."""

from __future__ import annotations

import asyncio
import inspect

from livenode.core.clock import LiveClock
from livenode.venues.sim import RemoteSimVenue, SimVenue
from livenode.venues.sim.api import SimVenueAPI
from tests.unit.adapters.sim_helpers import BTC_ID, Recorder, venue_config


def _members_of(protocol: type) -> dict[str, bool]:
    """Public member -> whether it is a coroutine function."""
    return {name: inspect.iscoroutinefunction(getattr(protocol, name, None))
            for name in vars(protocol) if not name.startswith("_")}


def test_both_venues_have_every_member_with_the_same_sync_async_split() -> None:
    expected = _members_of(SimVenueAPI)
    assert "request_order_status_reports_for" in expected and "attach" in expected
    for cls in (SimVenue, RemoteSimVenue):
        for name, is_async in expected.items():
            member = getattr(cls, name, None)
            assert member is not None, f"{cls.__name__} lacks {name}"
            assert inspect.iscoroutinefunction(member) == is_async, f"{cls.__name__}.{name}"


async def test_the_in_process_venue_answers_the_async_members_at_once() -> None:
    loop = asyncio.get_running_loop()
    venue: SimVenueAPI = SimVenue(venue_config(), loop, LiveClock(loop), "SIM")
    await venue.connect()
    assert venue.is_connected and venue.replay_feed is None
    account = Recorder()
    assert await venue.attach(account) == venue.account_id
    assert account.items and venue.instrument(BTC_ID) is not None
    assert await venue.request_order_status_reports() == []
    assert await venue.request_order_status_reports_for(["nope"]) == []
    assert await venue.request_fill_reports() == []
    assert await venue.request_position_reports() == []
    venue.detach_account(account)
    await venue.disconnect()


def test_the_venue_package_imports_no_adapter_and_no_outer_layer() -> None:
    import ast
    from pathlib import Path

    import livenode.venues.sim as sim

    outer = ("livenode.adapters", "livenode.engines.clients", "livenode.trading",
             "livenode.node", "livenode.supervisor", "livenode.cli")
    assert sim.__file__ is not None
    for path in Path(sim.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [n for n in names if n.startswith(outer)], path.name
