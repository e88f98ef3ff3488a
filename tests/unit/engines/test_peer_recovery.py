"""What an exec worker replays to a restarted trader worker (`replay_execution_state`)."""

from __future__ import annotations

from typing import Any

import msgspec

from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import TestClock
from livenode.engines.peer_recovery import replay_execution_state
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID
from livenode.model.enums import OrderSide
from livenode.model.events import StateReplayed
from livenode.model.identifiers import StrategyId, TraderId
from livenode.model.position import Position

from .helpers import filled, make_instrument, order_init


def test_a_restarted_trader_gets_its_own_and_the_external_positions() -> None:
    # EXTERNAL positions are part of the account's net that its strategies' closes are
    # bounded by; another trader's strategies' are not replayed (their strategies would
    # hear a snapshot they already have as news).
    cache = Cache()
    instrument = make_instrument()
    cache.add_instrument(instrument)
    for n, (strategy, side) in enumerate([("S-001", OrderSide.BUY),
                                          (str(EXTERNAL_STRATEGY_ID), OrderSide.SELL),
                                          ("OTHER-001", OrderSide.SELL)]):
        init = order_init(side=side, qty="1.000", coid=f"O-{n}",
                          strategy_id=StrategyId(strategy))
        fill = msgspec.structs.replace(filled(init, "1.000", "100.00", f"T-{n}"),
                                       position_id=None)
        cache.add_position(Position(instrument, fill))
    bus = MessageBus(TraderId("TRADER-001"), TestClock(0))
    heard: list[Any] = []
    bus.subscribe("events.*", heard.append)

    orders, positions = replay_execution_state(cache, bus, bus.trader_id, "exec-SIM",
                                               {"S-001"})
    assert (orders, positions) == (0, 2)
    assert sorted(str(e.strategy_id) for e in heard if type(e) is not StateReplayed) == [
        "EXTERNAL", "S-001"]
    (marker,) = [e for e in heard if type(e) is StateReplayed]
    assert marker.strategies == ["S-001"] and marker.positions == 2
    # A restarted risk worker gets every position.
    heard.clear()
    assert replay_execution_state(cache, bus, bus.trader_id, "exec-SIM", None) == (0, 3)
