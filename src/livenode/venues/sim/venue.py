"""`SimVenue`: a simulated exchange, a component of its own like a real venue.

It is the source of its market (`SimFeed`: random walks or replay) and matches
orders against it (`MatchingEngine` per instrument, one `SimCashAccount`).
Its API is message-shaped, so a later issue can put it behind a socket and run
it as its own process that outlives the node:

- ``subscribe_market(listener)``: the listener gets every `Instrument` at once,
  then every `QuoteTick` / `TradeTick` while the feed runs;
- ``attach_account(listener) -> AccountId``: the listener gets an `AccountState`
  at once, then every order event and `AccountState` of the account;
- ``submit(SubmitOrder)``, ``modify(ModifyOrder)``, ``cancel(CancelOrder)``,
  ``cancel_all(CancelAllOrders)``: commands in, answers come as events;
- ``order_status_reports()``, ``fill_reports()``, ``position_reports()`` for
  reconciliation; ``start()`` / ``stop()`` run the feed on the loop.

Latency: a command reaches the matching engine ``ack_latency_ms`` after it was
sent (accept, reject, update and cancel events are stamped then); a fill event
is delivered ``fill_latency_ms`` after its match. Commands are always handled in
a later loop callback, never inside the caller's stack (a venue is behind a
wire), and one account's events are delivered in the order they were made.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from livenode.core.clock import Clock
from livenode.core.uuid import new_id
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.data import QuoteTick, TradeTick
from livenode.model.enums import AggressorSide
from livenode.model.events import AccountState
from livenode.model.identifiers import AccountId, InstrumentId, TradeId, Venue
from livenode.model.instruments import Instrument
from livenode.model.objects import Price, Quantity
from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport
from livenode.venues.sim.account import SimCashAccount
from livenode.venues.sim.config import SimVenueConfig
from livenode.venues.sim.feed import SimFeed
from livenode.venues.sim.instruments import (
    SimVenueError,
    build_instrument,
    build_spec,
    parse_balance,
    precision_reason,
    to_raw_checked,
)
from livenode.venues.sim.market import RandomWalk, RawQuote, RawTrade, to_raw
from livenode.venues.sim.matching import ACCEPTED, Fill, InstrumentSpec, MatchingEngine, SimOrder
from livenode.venues.sim.replay import OnBadLine, merge_files
from livenode.venues.sim.state_store import StoredVenue, VenueStateError, VenueStateStore
from livenode.venues.sim.venue_events import EventFactory, currency_of

_log = logging.getLogger("livenode.venues.sim.venue")

MarketListener = Callable[[Any], None]
AccountListener = Callable[[Any], None]
_AGGRESSOR = {s.value: s for s in AggressorSide}

__all__ = ["SimVenue", "SimVenueError", "build_instrument", "build_spec"]


class SimVenue:
    """The embedded simulated exchange of one venue name (see the module doc)."""

    def __init__(
        self,
        config: SimVenueConfig,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
        venue: str = "SIM",
    ) -> None:
        if config.venue is not None and config.venue != venue:
            raise SimVenueError(f"venue_config.venue {config.venue!r} differs from venue {venue!r}")
        if not config.instruments:
            raise SimVenueError("a sim venue needs at least one instrument")
        self.config = config
        self.venue = Venue(venue)
        self.account_id = AccountId(config.account_id or f"{venue}-001")
        self._loop = loop
        self._clock = clock
        # Trade and venue order ids carry a per-instance session tag: a node restarted on a
        # new venue instance must not see ids it already holds (fills are deduplicated by
        # trade id).
        self.session = new_id()[:8]
        now = clock.timestamp_ns()
        self._instruments: dict[str, Instrument] = {}
        self._engines: dict[str, MatchingEngine] = {}
        self._by_id: dict[InstrumentId, str] = {}
        balances: dict[str, int] = {}
        precisions: dict[str, int] = {}
        for amount, code in map(parse_balance, config.starting_balances):
            ccy = currency_of(code)
            precisions[code] = ccy.precision
            balances[code] = balances.get(code, 0) + to_raw(amount, ccy.precision)
        for icfg in config.instruments:
            for code in (icfg.base, icfg.quote):
                precisions.setdefault(code, currency_of(code).precision)
        self.account = SimCashAccount(
            balances, precisions, config.leverage, config.reject_when_insufficient_balance
        )
        specs: dict[str, InstrumentSpec] = {}
        for icfg in config.instruments:
            if icfg.symbol in self._instruments:
                raise SimVenueError(f"instrument {icfg.symbol} is configured twice")
            try:
                inst = build_instrument(icfg, self.venue, now)
                spec = build_spec(icfg)
            except ValueError as exc:
                raise SimVenueError(f"instrument {icfg.symbol}: {exc}") from None
            self._instruments[icfg.symbol] = inst
            self._by_id[inst.id] = icfg.symbol
            self._engines[icfg.symbol] = MatchingEngine(
                spec, self.account, config.max_closed_orders, f"{icfg.symbol}-{self.session}"
            )
            specs[icfg.replay_symbol or icfg.symbol] = spec
        self._events = EventFactory(self.account_id, self._instruments, self.account)
        self._market_listeners: list[MarketListener] = []
        self._account_listener: AccountListener | None = None
        self._outbox: deque[tuple[int, Any]] = deque()
        self._outbox_handle: asyncio.TimerHandle | None = None
        self._expiry_handles: dict[int, asyncio.TimerHandle] = {}
        self._last_due = 0
        self._venue_order_seq = 0
        self._fills: deque[Any] = deque(maxlen=config.max_closed_orders)
        self._ack_ns = int(config.ack_latency_ms * 1_000_000)
        self._fill_ns = int(config.fill_latency_ms * 1_000_000)
        self.quotes_emitted = 0
        self.trades_emitted = 0
        self.feed = self._build_feed(specs)
        self._store: VenueStateStore | None = None
        # Called when the state file cannot be written (the venue process stops then).
        self.on_state_failure: Callable[[Exception], None] | None = None
        if config.state_path is not None:
            self._store = VenueStateStore(config.state_path, venue)
            self._restore(self._store.load())

    def _restore(self, stored: StoredVenue | None) -> None:
        """Continue from the state file: books, closed orders, fills, account, counters."""
        if stored is None:
            return
        by_symbol: dict[str, list[SimOrder]] = {symbol: [] for symbol in self._engines}
        for symbol, order in stored.orders.values():
            if symbol not in by_symbol:
                raise SimVenueError(
                    f"state file {self.config.state_path}: order {order.client_order_id} is on "
                    f"instrument {symbol}, which this venue's config does not list"
                )
            by_symbol[symbol].append(order)
        counters = stored.counters
        for symbol, engine in self._engines.items():
            engine.restore(by_symbol[symbol], counters.get(f"seq:{symbol}", 0),
                           counters.get(f"fill_seq:{symbol}", 0))
            if engine.next_expiry is not None:
                self._schedule_expiry(engine.next_expiry)
        perps = {s: e.spec for s, e in self._engines.items() if e.spec.kind == "perpetual"}
        self.account.restore(stored.totals, stored.locks, stored.positions, perps)
        self._fills.extend(fill for _symbol, fill in stored.fills)
        self._venue_order_seq = counters.get("venue_order_seq", 0)
        open_orders = sum(len(e.open_orders()) for e in self._engines.values())
        _log.info("sim venue %s: restored %d order(s) (%d open), %d fill(s), %d position(s) "
                  "from %s", self.venue, len(stored.orders), open_orders, len(stored.fills),
                  sum(1 for p in stored.positions.values() if p.qty), self.config.state_path)

    def _save(self, actions: Any) -> None:
        """Write the orders and fills of ``actions`` and the account, before any event."""
        assert self._store is not None
        orders: dict[str, tuple[str, SimOrder]] = {}
        fills: list[tuple[str, Fill]] = []
        for action in actions:
            order = action.order
            if order.tag is None:
                continue  # the stand-in of an order the venue does not know: no state
            symbol = self._by_id[order.tag[0].instrument_id]
            if order.status != "REJECTED":  # never in a book: nothing to keep
                orders[order.client_order_id] = (symbol, order)
            if type(action) is Fill:
                fills.append((symbol, action))
        counters = {"venue_order_seq": self._venue_order_seq}
        for symbol, engine in self._engines.items():
            counters[f"seq:{symbol}"], counters[f"fill_seq:{symbol}"] = engine.counters
        try:
            self._store.save(orders.values(), fills, self.account, counters)
        except VenueStateError as exc:
            # Fail closed: the batch's events are not sent (the raise skips them), so
            # no client hears of what the file does not hold; the venue process stops.
            _log.critical("sim venue %s cannot write its state: %s", self.venue, exc)
            if self.on_state_failure is not None:
                self.on_state_failure(exc)
            raise

    def _build_feed(self, specs: dict[str, InstrumentSpec]) -> SimFeed:
        feed_cfg = self.config.feed
        walks: dict[str, RandomWalk] = {}
        replay = None
        if feed_cfg.mode == "random_walk":
            for icfg in self.config.instruments:
                walks[icfg.symbol] = RandomWalk(
                    self._engines[icfg.symbol].spec,
                    feed_cfg.seed,
                    icfg.start_price,
                    icfg.volatility,
                    icfg.spread_ticks,
                    icfg.mean_size,
                    icfg.trade_probability,
                )
        else:
            path = feed_cfg.replay_path
            if not path:
                raise SimVenueError("feed.mode = 'replay' needs feed.replay_path")
            paths = [path] if isinstance(path, str) else list(path)
            fmt = feed_cfg.replay_format

            def replay(on_bad: OnBadLine | None) -> Any:
                return merge_files(paths, fmt, specs, on_bad)

        return SimFeed(
            feed_cfg,
            self._loop,
            self._clock.timestamp_ns,
            self._on_raw_quote,
            self._on_raw_trade,
            walks=walks,
            replay=replay,
            on_wake=self._expire,
        )

    # -- lifecycle --------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self.feed.running

    def start(self) -> None:
        """Start the market feed (idempotent: both clients may ask)."""
        self.feed.start()

    def stop(self) -> None:
        """Stop the feed and the venue's timers, delivering events still in flight."""
        self.feed.stop()
        for handle in self._expiry_handles.values():
            handle.cancel()
        self._expiry_handles.clear()
        if self._outbox_handle is not None:
            # Deliver what is in flight rather than lose events at shutdown.
            self._outbox_handle.cancel()
            self._outbox_handle = None
            while self._outbox:
                self._deliver(self._outbox.popleft()[1])

    def close(self) -> None:
        """Close the state file (the venue process, at its exit).

        Not part of `stop`: commands still arriving after the feed stopped (a node
        cancelling its orders at shutdown) must still be written.
        """
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- SimVenueAPI: connection and feed (nothing to connect in-process) -------------

    @property
    def is_connected(self) -> bool:
        """Always True: the venue lives in the caller's process."""
        return True

    async def connect(self) -> None:
        """Nothing to do in-process (`SimVenueAPI`)."""

    async def disconnect(self) -> None:
        """Nothing to do in-process (`SimVenueAPI`): the venue lives with the node."""

    @property
    def replay_feed(self) -> SimFeed | None:
        """The feed when it is a replay (the data client starts it once the strategies
        run and watches its end), else None."""
        return self.feed if self.feed.config.mode == "replay" else None

    @property
    def market_feed(self) -> SimFeed:
        """The feed, whatever its mode: its ``done`` / ``error`` tell a client that it
        ended or failed (a random walk that failed must not leave the node silent)."""
        return self.feed

    async def wait_feed_done(self) -> None:
        """Until a finite feed (``max_ticks`` or a non-looping replay) has ended."""
        await self.feed.done.wait()

    # -- market -----------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return list(self._instruments.values())

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        symbol = self._by_id.get(instrument_id)
        return None if symbol is None else self._instruments[symbol]

    def subscribe_market(self, listener: MarketListener) -> None:
        if listener not in self._market_listeners:
            self._market_listeners.append(listener)
        for inst in self._instruments.values():
            listener(inst)

    def unsubscribe_market(self, listener: MarketListener) -> None:
        if listener in self._market_listeners:
            self._market_listeners.remove(listener)

    def set_market_interest(self, kind: str, instrument_id: InstrumentId, wanted: bool) -> None:
        """Nothing to do in-process: every tick is handed over and the client filters.

        (`RemoteSimVenue` uses it to filter at the publisher, off the wire.)
        """

    def _on_raw_quote(self, symbol: str, q: RawQuote, ts: int) -> None:
        engine = self._engines[symbol]
        actions = engine.on_quote(q.bid, q.ask, q.bid_size, q.ask_size, ts)
        self.quotes_emitted += 1
        if self._market_listeners:
            spec = engine.spec
            pp, sp = spec.price_precision, spec.size_precision
            tick = QuoteTick(
                self._instruments[symbol].id,
                Price(q.bid, pp),
                Price(q.ask, pp),
                Quantity(q.bid_size, sp),
                Quantity(q.ask_size, sp),
                ts,
                self._clock.timestamp_ns(),
            )
            for listener in self._market_listeners:
                listener(tick)
        if actions:
            self._publish_actions(actions, ts, self._fill_ns)

    def _on_raw_trade(self, symbol: str, t: RawTrade, ts: int) -> None:
        engine = self._engines[symbol]
        actions = engine.on_trade(t.price, t.size, ts)
        self.trades_emitted += 1
        if self._market_listeners:
            spec = engine.spec
            tick = TradeTick(
                self._instruments[symbol].id,
                Price(t.price, spec.price_precision),
                Quantity(t.size, spec.size_precision),
                _AGGRESSOR[t.aggressor],
                TradeId(t.trade_id),
                ts,
                self._clock.timestamp_ns(),
            )
            for listener in self._market_listeners:
                listener(tick)
        if actions:
            self._publish_actions(actions, ts, self._fill_ns)

    def _schedule_expiry(self, expire_ns: int) -> None:
        # Expiry must not depend on market activity (a quiet or finished feed).
        if expire_ns in self._expiry_handles:
            return
        delay = max(0, expire_ns - self._clock.timestamp_ns()) / 1e9
        handle = self._loop.call_later(delay, self._expiry_due, expire_ns)
        self._expiry_handles[expire_ns] = handle

    def _expiry_due(self, expire_ns: int) -> None:
        self._expiry_handles.pop(expire_ns, None)
        now = self._clock.timestamp_ns()
        if now < expire_ns:  # the loop's timer may fire a hair early
            self._schedule_expiry(expire_ns)
            return
        self._expire(now)

    def _expire(self, ts: int) -> None:
        for engine in self._engines.values():
            actions = engine.expire(ts)
            if actions:
                self._publish_actions(actions, ts, 0)

    # -- account ----------------------------------------------------------------------

    def attach_account(self, listener: AccountListener) -> AccountId:
        """Attach the (one) account listener; it gets the current `AccountState` at once."""
        self._account_listener = listener
        listener(self.account_state())
        return self.account_id

    async def attach(self, listener: AccountListener) -> AccountId:
        """`attach_account`, as `SimVenueAPI` has it: the state is delivered at once."""
        return self.attach_account(listener)

    def detach_account(self, listener: AccountListener) -> None:
        if self._account_listener == listener:  # bound methods are equal, not identical
            self._account_listener = None

    def account_state(self) -> AccountState:
        ts = self._clock.timestamp_ns()
        return self._events.account_state(ts, ts)

    # -- commands ---------------------------------------------------------------------

    def submit(self, command: SubmitOrder) -> None:
        self._later(self._do_submit, command)

    def modify(self, command: ModifyOrder) -> None:
        self._later(self._do_modify, command)

    def cancel(self, command: CancelOrder) -> None:
        self._later(self._do_cancel, command)

    def cancel_all(self, command: CancelAllOrders) -> None:
        self._later(self._do_cancel_all, command)

    def _later(self, fn: Callable[[Any], None], command: Any) -> None:
        if self._ack_ns > 0:
            self._loop.call_later(self._ack_ns / 1e9, self._run_command, fn, command)
        else:
            self._loop.call_soon(self._run_command, fn, command)

    def _run_command(self, fn: Callable[[Any], None], command: Any) -> None:
        try:
            fn(command)
        except Exception:  # a venue bug must not kill the loop; log it loudly
            _log.exception("sim venue failed to process %s", type(command).__name__)

    def _engine_for(self, instrument_id: InstrumentId) -> MatchingEngine | None:
        symbol = self._by_id.get(instrument_id)
        return None if symbol is None else self._engines[symbol]

    def _do_submit(self, command: SubmitOrder) -> None:
        init = command.order
        ts = self._clock.timestamp_ns()
        engine = self._engine_for(init.instrument_id)
        if engine is None:
            unknown = f"unknown instrument {init.instrument_id} on venue {self.venue}"
            self._emit(self._events.rejected(init, unknown, ts), 0)
            return
        spec = engine.spec
        qty = to_raw_checked(init.quantity, spec.size_precision)
        price = to_raw_checked(init.price, spec.price_precision)
        trigger = to_raw_checked(init.trigger_price, spec.price_precision)
        reason = None
        if qty is False:
            reason = precision_reason("quantity", init.quantity, spec.size_precision, spec.symbol)
        elif price is False:
            reason = precision_reason("price", init.price, spec.price_precision, spec.symbol)
        elif trigger is False:
            reason = precision_reason(
                "trigger price", init.trigger_price, spec.price_precision, spec.symbol
            )
        if reason is not None:
            self._emit(self._events.rejected(init, reason, ts), 0)
            return
        assert qty is not None  # an order always has a quantity
        self._venue_order_seq += 1
        order = SimOrder(
            client_order_id=init.client_order_id.value,
            venue_order_id=f"{spec.symbol}-{self.session}-{self._venue_order_seq}",
            side=init.side.value,
            order_type=init.order_type.value,
            quantity=qty,
            price=price,
            trigger_price=trigger,
            time_in_force=init.time_in_force.value,
            expire_time_ns=init.expire_time_ns,
            post_only=init.post_only,
            reduce_only=init.reduce_only,
            tag=(init, command.position_id),
        )
        self._publish_actions(engine.submit(order, ts), ts, self._fill_ns)

    def _do_modify(self, command: ModifyOrder) -> None:
        ts = self._clock.timestamp_ns()
        engine = self._engine_for(command.instrument_id)
        if engine is None:
            reason = f"unknown instrument {command.instrument_id} on venue {self.venue}"
            self._emit(self._events.command_rejected(command, "modify", reason, ts), 0)
            return
        spec = engine.spec
        qty = to_raw_checked(command.quantity, spec.size_precision)
        price = to_raw_checked(command.price, spec.price_precision)
        trigger = to_raw_checked(command.trigger_price, spec.price_precision)
        for value, raw, what, prec in (
            (command.quantity, qty, "quantity", spec.size_precision),
            (command.price, price, "price", spec.price_precision),
            (command.trigger_price, trigger, "trigger price", spec.price_precision),
        ):
            if raw is False:
                reason = precision_reason(what, value, prec, spec.symbol)
                self._emit(self._events.command_rejected(command, "modify", reason, ts), 0)
                return
        actions = engine.modify(command.client_order_id.value, qty, price, trigger, ts)
        self._publish_actions(actions, ts, self._fill_ns, command)

    def _do_cancel(self, command: CancelOrder) -> None:
        ts = self._clock.timestamp_ns()
        engine = self._engine_for(command.instrument_id)
        if engine is None:
            reason = f"unknown instrument {command.instrument_id} on venue {self.venue}"
            self._emit(self._events.command_rejected(command, "cancel", reason, ts), 0)
            return
        self._publish_actions(engine.cancel(command.client_order_id.value, ts), ts, 0, command)

    def _do_cancel_all(self, command: CancelAllOrders) -> None:
        ts = self._clock.timestamp_ns()
        engine = self._engine_for(command.instrument_id)
        if engine is None:
            _log.warning("cancel all: unknown instrument %s", command.instrument_id)
            return
        side = None if command.order_side is None else command.order_side.value
        self._publish_actions(engine.cancel_all(side, ts), ts, 0)

    # -- events -----------------------------------------------------------------------

    def _publish_actions(
        self, actions: Any, ts: int, fill_delay: int, command: Any = None
    ) -> None:
        """Turn matching actions into order events, then one `AccountState`."""
        if self._store is not None:
            self._save(actions)
        events = self._events
        for action in actions:
            if type(action) is Fill:
                event = events.filled(action)
                self._fills.append(action)
                self._emit(event, fill_delay)
            else:
                self._emit(events.status(action, command), 0)
                exp = action.order.expire_time_ns
                if action.kind == ACCEPTED and exp is not None and action.order.time_in_force in (
                    "GTD",
                    "DAY",
                ):
                    self._schedule_expiry(exp)
        self._emit(events.account_state(ts, ts), fill_delay)

    def _emit(self, event: Any, delay_ns: int) -> None:
        """Deliver an event after ``delay_ns``, never before an earlier one (FIFO)."""
        now = self._clock.timestamp_ns()
        due = now + delay_ns
        if due < self._last_due:
            due = self._last_due
        self._last_due = due
        if due <= now and not self._outbox:
            self._deliver(event)
            return
        self._outbox.append((due, event))
        if self._outbox_handle is None:
            self._schedule_outbox(now)

    def _schedule_outbox(self, now: int) -> None:
        due = self._outbox[0][0]
        self._outbox_handle = self._loop.call_later(max(0, due - now) / 1e9, self._flush_outbox)

    def _flush_outbox(self) -> None:
        self._outbox_handle = None
        now = self._clock.timestamp_ns()
        while self._outbox and self._outbox[0][0] <= now:
            self._deliver(self._outbox.popleft()[1])
        if self._outbox:
            self._schedule_outbox(now)

    def _deliver(self, event: Any) -> None:
        listener = self._account_listener
        if listener is not None:
            listener(event)

    # -- reports ----------------------------------------------------------------------

    def order_status_reports(self, open_only: bool = True) -> list[OrderStatusReport]:
        """Orders as the venue knows them (open ones by default), for reconciliation."""
        ts = self._clock.timestamp_ns()
        out: list[OrderStatusReport] = []
        for engine in self._engines.values():
            orders = engine.open_orders()
            if not open_only:
                orders += engine.closed_orders()
            out.extend(self._events.order_status_report(o, ts) for o in orders)
        return out

    def order_status_reports_for(self, client_order_ids: list[str]) -> list[OrderStatusReport]:
        """The venue's state of each order asked, open or closed (unknown ids left out):
        reconciliation asks this for orders the node holds open or in flight that the
        venue does not report open."""
        ts = self._clock.timestamp_ns()
        out: list[OrderStatusReport] = []
        for cid in client_order_ids:
            for engine in self._engines.values():
                order = engine.get(cid)
                if order is not None:
                    out.append(self._events.order_status_report(order, ts))
                    break
        return out

    def fill_reports(self) -> list[FillReport]:
        ts = self._clock.timestamp_ns()
        return [self._events.fill_report(f, ts) for f in self._fills]

    def position_reports(self) -> list[PositionStatusReport]:
        ts = self._clock.timestamp_ns()
        return [
            self._events.position_report(symbol, pos, ts)
            for symbol, pos in self.account.positions.items()
        ]

    # -- SimVenueAPI: the reports, answered at once -----------------------------------

    async def request_order_status_reports(
        self, open_only: bool = True
    ) -> list[OrderStatusReport]:
        """`order_status_reports`, as `SimVenueAPI` has it."""
        return self.order_status_reports(open_only)

    async def request_order_status_reports_for(
        self, client_order_ids: list[str]
    ) -> list[OrderStatusReport]:
        """`order_status_reports_for`, as `SimVenueAPI` has it."""
        return self.order_status_reports_for(client_order_ids)

    async def request_fill_reports(self) -> list[FillReport]:
        """`fill_reports`, as `SimVenueAPI` has it."""
        return self.fill_reports()

    async def request_position_reports(self) -> list[PositionStatusReport]:
        """`position_reports`, as `SimVenueAPI` has it."""
        return self.position_reports()

    async def request_account_state(self) -> AccountState:
        """`account_state`, as `SimVenueAPI` has it."""
        return self.account_state()
