"""Rewrite a process's state into a cache database that lost it.

When the database refuses a write because it no longer holds this process's state
(its run marker is gone or behind: a Redis server restarted empty, a database
restored from an older copy), the process still has that state in memory: every
order with all its events, every position, every account, every instrument and its
strategies' saved states. `plan_rewrite` turns it into the writes that store it
again from nothing; the writer puts them in place of what was queued.

The order events must go in an order they could have been applied in, or a node
restarted on the rewritten database would rebuild other positions: each order's
events in their own order (the order keeps them all), and each position's fills in
the order the position took them (`Position.fill_sequence`). `events_in_apply_order`
merges the two. The rewrite is refused (`RewriteRefused`: the node then halts
trading with the reason, never writing half a history) when the process no longer
holds the whole history (closed orders purged from the cache beyond
``max_closed_orders``, a position with more fills than it remembers the order of),
or when replaying the planned events (`verify_rewrite`, off the event loop) does not
give back exactly the orders and positions the process holds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import msgspec

from livenode.cache.cache import Cache
from livenode.cache.database import CacheDatabase, DatabaseState
from livenode.cache.database.writer import QueuedOp
from livenode.engines.recovery import restore_execution_state
from livenode.model.events import AccountState, OrderFilled
from livenode.model.identifiers import PositionId, TradeId
from livenode.model.instruments import Instrument

__all__ = ["RewritePlan", "RewriteRefused", "events_in_apply_order", "plan_rewrite",
           "verify_rewrite"]


class RewriteRefused(Exception):
    """The state cannot be rewritten soundly; the message says why."""


@dataclass
class RewritePlan:
    """The writes that store a process's state again, and what they must rebuild."""

    ops: list[QueuedOp]
    # `DatabaseWriter.submitted` when the state was taken: what was queued before is
    # in `ops`, what is queued after follows them.
    cut: int
    instruments: list[Instrument] = field(default_factory=list)
    accounts: list[tuple[AccountState, AccountState]] = field(default_factory=list)
    order_events: list[Any] = field(default_factory=list)
    strategies: int = 0
    # What the process holds: client order id -> (status, filled quantity); position
    # id -> its facts (`_position_facts`).
    orders: dict[str, tuple[str, str]] = field(default_factory=dict)
    positions: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        """``2 instrument(s), 1 account(s), 131 order(s) (873 event(s), 194 fill(s)), ...``."""
        fills = sum(1 for e in self.order_events if type(e) is OrderFilled)
        return (f"{len(self.instruments)} instrument(s), {len(self.accounts)} account(s), "
                f"{len(self.orders)} order(s) ({len(self.order_events)} event(s), "
                f"{fills} fill(s)), {len(self.positions)} position(s), "
                f"{self.strategies} strategy state(s): {len(self.ops)} write(s)")


def _order_facts(order: Any) -> tuple[str, str]:
    return order.status.value, str(order.filled_qty)


def _position_facts(position: Any) -> tuple[Any, ...]:
    """Everything a position's fills decide: its current snapshot, every closed cycle
    kept (peak, prices, PnL: a flip placed elsewhere splits other cycles even when the
    end quantity and the lifetime PnL agree), the cycle and fill counts."""
    def same_ids(event: Any) -> Any:
        return msgspec.structs.replace(event, event_id="", ts_init=0)
    return (same_ids(position.snapshot_event(event_id="", ts_init=0)),
            tuple(same_ids(c) for c in position.closed_cycles), position.cycle_count,
            position.version)


def _brief(facts: tuple[Any, ...] | None) -> str:
    """A position's facts in a few words, for the log."""
    if facts is None:
        return "nothing"
    snapshot, cycles, cycle_count, fills = facts
    last = f", last closed cycle realized {cycles[-1].realized_pnl}" if cycles else ""
    return (f"{snapshot.side.value} {snapshot.quantity} @ {snapshot.avg_px_open:g}, realized "
            f"{snapshot.realized_pnl}{last}, {cycle_count} closed cycle(s), {fills} fill(s)")


def plan_rewrite(
    database: CacheDatabase,
    *,
    cache: Cache | None,
    strategies: dict[str, dict[str, bytes]],
) -> RewritePlan:
    """The writes that store `cache`'s execution state (None: none, a process that only
    saves strategy states) and `strategies` into `database` again. Call it on the
    thread that queues writes (the event loop), so nothing changes meanwhile.

    Raises:
        RewriteRefused: the process does not hold the whole history, or its events
            cannot be put in an order they could have been applied in.
    """
    cut = database.writer.submitted
    plan = RewritePlan(ops=[], cut=cut, strategies=len(strategies))
    if cache is not None:
        if cache.purged_orders:
            raise RewriteRefused(
                f"{cache.purged_orders} closed order(s) were purged from memory "
                f"(cache.max_closed_orders = {cache.max_closed_orders}): this process no "
                f"longer holds the whole history")
        orders = cache.orders()
        sequences: dict[PositionId, list[TradeId]] = {}
        for position in cache.positions():
            sequence = position.fill_sequence()
            if sequence is None:
                raise RewriteRefused(
                    f"position {position.id}: {position.version} fill(s), more than this "
                    f"process remembers the order of")
            sequences[position.id] = sequence
        plan.order_events = events_in_apply_order([o.events for o in orders], sequences)
        plan.instruments = cache.instruments()
        plan.accounts = [(a.first_event, a.last_event) for a in cache.accounts()]
        plan.orders = {o.client_order_id.value: _order_facts(o) for o in orders}
        plan.positions = {p.id.value: _position_facts(p) for p in cache.positions()}
    plan.ops = CacheDatabase.state_ops(
        instruments=plan.instruments, accounts=plan.accounts, strategies=strategies,
        order_events=plan.order_events)
    return plan


def events_in_apply_order(
    chains: list[list[Any]], sequences: dict[PositionId, list[TradeId]]
) -> list[Any]:
    """Every event of `chains` (one list per order, in its order) in one sequence that
    keeps each chain's order and puts each position's fills in `sequences`' order.

    A fill whose trade id its position does not list (the position refused it, or
    does not exist) is constrained by its order only.

    Raises:
        RewriteRefused: no such sequence (the orders and positions disagree).
    """
    present = {(e.position_id, e.trade_id) for chain in chains for e in chain
               if type(e) is OrderFilled}
    # Only the fills some order holds: a missing one would block its position forever
    # (the verification then tells the difference).
    expected: dict[PositionId, list[TradeId]] = {
        pid: [t for t in tids if (pid, t) in present] for pid, tids in sequences.items()}
    pending = {(pid, t) for pid, tids in expected.items() for t in tids}
    head = dict.fromkeys(expected, 0)
    at = [0] * len(chains)
    parked: dict[tuple[PositionId, TradeId], list[int]] = {}
    ready = deque(range(len(chains)))
    out: list[Any] = []
    while ready:
        i = ready.popleft()
        chain = chains[i]
        while at[i] < len(chain):
            event = chain[at[i]]
            key = (event.position_id, event.trade_id) if type(event) is OrderFilled else None
            if key is not None and key in pending:
                pid, tids = key[0], expected[key[0]]
                if tids[head[pid]] != key[1]:
                    parked.setdefault(key, []).append(i)  # its position takes others first
                    break
                pending.discard(key)
                head[pid] += 1
                if head[pid] < len(tids):
                    ready.extend(parked.pop((pid, tids[head[pid]]), ()))
            out.append(event)
            at[i] += 1
    stuck = [chains[i][at[i]] for i in range(len(chains)) if at[i] < len(chains[i])]
    if stuck:
        first = stuck[0]
        raise RewriteRefused(
            f"the events of {len(stuck)} order(s) cannot be put in an order their positions "
            f"took them in (first: {type(first).__name__} of {first.client_order_id})")
    return out


def verify_rewrite(plan: RewritePlan) -> str | None:
    """Replay the planned state as a restarted process would load it and compare it
    with what the process held: None when equal, else the first difference. Pure
    (reads only the plan), so it may run off the event loop."""
    if not plan.orders and not plan.positions:
        return None
    cache = Cache(SimpleNamespace(max_closed_orders=len(plan.order_events) + 1))
    state = DatabaseState(
        instruments=list(plan.instruments), order_events=list(plan.order_events),
        accounts={first.account_id.value: (first, last) for first, last in plan.accounts})
    counts = restore_execution_state(cache, state)
    if counts.refused_events:
        return f"{counts.refused_events} event(s) refused when replayed"
    rebuilt_orders = {o.client_order_id.value: _order_facts(o) for o in cache.orders()}
    for coid, facts in plan.orders.items():
        if rebuilt_orders.get(coid) != facts:
            return f"order {coid}: held {facts}, replayed {rebuilt_orders.get(coid)}"
    rebuilt = {p.id.value: _position_facts(p) for p in cache.positions()}
    for pid, held in plan.positions.items():
        if rebuilt.get(pid) != held:
            return f"position {pid}: held {_brief(held)}, replayed {_brief(rebuilt.get(pid))}"
    extra = sorted(set(rebuilt) - set(plan.positions))
    if extra:
        return f"position(s) {', '.join(extra)} replayed but not held"
    return None
