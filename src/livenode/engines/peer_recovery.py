"""The recovery protocol between the workers of a multiprocess node.

When a worker restarts, its peers send it what it cannot have seen, over the bus,
each closed by a `StateReplayed` marker (a restarted trader or risk worker starts
only once every marker it waits for has arrived; see docs/persistence.md):

- a data worker: its instruments (`publish_instruments`);
- an exec worker: its account states (`publish_account_states`), and to a restarted
  trader or risk worker the open orders, every event, and the open positions
  (`replay_execution_state`);
- a trader, to a restarted risk or exec worker: the submits it never heard back
  about, and after an exec restart every order not closed, flagged ``resend``
  with the ids of the events it holds (`resend_unanswered`); risk and exec apply
  each once and exec sends back every event the trader does not hold.

The worker process only decides when (the supervisor's Go after a peer restarted);
what is sent is decided here, from the cache, on the node's own bus.
"""

from __future__ import annotations

import time
from typing import Any

from livenode.bus import topics
from livenode.cache.cache import Cache
from livenode.core.uuid import new_id
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID
from livenode.model.commands import SubmitOrder
from livenode.model.enums import OrderStatus
from livenode.model.events import PositionChanged, StateReplayed

__all__ = [
    "publish_account_states",
    "publish_instruments",
    "replay_execution_state",
    "resend_unanswered",
]


def publish_instruments(cache: Cache, msgbus: Any, trader_id: Any, publisher: str) -> int:
    """Publish every instrument, then the data marker; returns how many."""
    instruments = cache.instruments()
    for instrument in instruments:
        msgbus.publish(topics.instrument(instrument.id), instrument)
    now = time.time_ns()
    msgbus.publish(
        topics.EXECUTION_REPLAYED,
        StateReplayed(trader_id=trader_id, publisher=publisher, role="data",
                      instruments=len(instruments), event_id=new_id(), ts_event=now,
                      ts_init=now),
    )
    return len(instruments)


def publish_account_states(cache: Cache, msgbus: Any) -> None:
    """Publish the last state of every account."""
    for account in cache.accounts():
        state = account.last_event
        msgbus.publish(topics.account_events(state.account_id), state)


def replay_execution_state(
    cache: Cache, msgbus: Any, trader_id: Any, publisher: str, strategies: set[str] | None
) -> tuple[int, int]:
    """For a restarted trader or risk worker: the open orders (every event, from their
    OrderInitialized on) and the open positions (a snapshot each) of `strategies`
    (None: all), then the exec marker. Returns (orders, positions).

    A trader's replay also holds the EXTERNAL positions: they are part of the account's
    net its strategies' closes are bounded by, and no running strategy listens to them
    (another trader's strategies' positions are left out: their strategies would hear
    a snapshot they already had as news; their next event brings them)."""
    orders = positions = 0
    owners = None if strategies is None else {*strategies, str(EXTERNAL_STRATEGY_ID)}
    for order in cache.orders_open():
        if strategies is not None and str(order.strategy_id) not in strategies:
            continue
        topic = topics.order_events(order.strategy_id)
        for event in order.events:
            msgbus.publish(topic, event)
        orders += 1
    for position in cache.positions_open():
        if owners is not None and str(position.strategy_id) not in owners:
            continue
        msgbus.publish(topics.position_events(position.strategy_id),
                       position.snapshot_event(PositionChanged))
        positions += 1
    now = time.time_ns()
    msgbus.publish(
        topics.EXECUTION_REPLAYED,
        StateReplayed(trader_id=trader_id, publisher=publisher, role="exec",
                      strategies=None if strategies is None else sorted(strategies),
                      orders=orders, positions=positions, event_id=new_id(),
                      ts_event=now, ts_init=now),
    )
    return orders, positions


def resend_unanswered(cache: Cache, msgbus: Any, trader_id: Any, exec_restarted: bool) -> int:
    """Submit again (``resend``) every order still INITIALIZED: its submit may have
    died with the restarted worker. After an exec restart, every order not closed
    too: the killed exec worker may have sent it to the venue without its record
    reaching the database; the new one asks the venue before it sends an order it
    does not know. Returns how many were sent."""
    now = time.time_ns()
    count = 0
    for order in cache.orders():
        if order.status is not OrderStatus.INITIALIZED and (
            not exec_restarted or order.is_closed
        ):
            continue
        init = order.init_event
        msgbus.publish(
            topics.RISK_COMMANDS,
            SubmitOrder(trader_id=trader_id, strategy_id=init.strategy_id,
                        command_id=new_id(), ts_init=now, ts_trigger=now, order=init,
                        position_id=order.position_id, resend=True,
                        known_event_ids=tuple(e.event_id for e in order.events)),
        )
        count += 1
    return count
