"""`SimVenueAPI`: the one interface of a simulated venue, in-process or remote.

`SimVenue` (the exchange in the node's process) and `RemoteSimVenue` (the proxy of a
venue process) both implement it, so the sim data and exec clients
(`livenode.adapters.sim`) hold a `SimVenueAPI` and never ask which one they have.

Sync and async: a clear split, by whether the remote needs a round trip.

- **Asynchronous** (a round trip to a venue process; the in-process venue answers at
  once): `connect` / `disconnect`, `attach` (returns once the venue's current
  `AccountState` reached the listener) and the reports (`request_order_status_reports`,
  `request_order_status_reports_for`, `request_fill_reports`,
  `request_position_reports`), which reconciliation awaits anyway.
- **Synchronous** (no answer awaited): the order commands (`submit`, `modify`,
  `cancel`, `cancel_all`: the venue answers with events, and the hot path makes no
  coroutine or task per command), the market listener and subscriptions, feed
  control (`start` / `stop`), `detach_account`, and what the proxy already knows
  (`instruments`, `instrument`, `account_state`).

Making everything async would cost the in-process venue a coroutine per order on
the tick-to-trade path for nothing; making everything sync is impossible for the
remote. The reports are named ``request_*`` because `SimVenue` keeps its own
synchronous ``order_status_reports()`` ... (the exchange's API, used by its server
and by tests that inspect the book).

Listeners are plain callables taking one model message: the market listener gets
every `Instrument` at once, then `QuoteTick` / `TradeTick`; the account listener gets
an `AccountState`, then every order event and `AccountState` of the account, in the
order the venue made them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
    from livenode.model.events import AccountState
    from livenode.model.identifiers import AccountId, InstrumentId, Venue
    from livenode.model.instruments import Instrument
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

__all__ = ["Listener", "ReplayFeed", "SimVenueAPI"]

#: A market or account listener: called with one model message at a time.
Listener = Callable[[Any], None]


class ReplayFeed(Protocol):
    """A feed as its data client watches it (a replay, or a random walk, whose failure
    it watches): the in-process `SimFeed`, or a venue process's feed
    (`livenode.venues.sim.remote_feed.RemoteReplay`)."""

    #: Set when the feed ended (every file done, a bad line or an error stopped it).
    done: asyncio.Event

    @property
    def error(self) -> object | None:
        """What stopped the feed (a bad line: file and line; an error: the exception),
        None when it finished."""
        ...

    @property
    def replay_quotes(self) -> int:
        """Quotes emitted so far."""
        ...

    @property
    def replay_trades(self) -> int:
        """Trades emitted so far."""
        ...

    @property
    def bad_lines(self) -> int:
        """Bad lines skipped so far (``on_bad_line = "skip"``)."""
        ...

    @property
    def stop_at_end(self) -> bool:
        """Whether the end of the replay stops the node (``feed.stop_at_end``)."""
        ...

    @property
    def on_bad_line(self) -> str:
        """``"stop"`` or ``"skip"`` (``feed.on_bad_line``)."""
        ...


class SimVenueAPI(Protocol):
    """What a sim client may do with its venue (see the module doc for sync/async)."""

    #: The venue's name.
    venue: Venue
    #: The venue's account (a remote learns it for sure at `connect` / `attach`).
    account_id: AccountId

    # -- connection -------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """Whether the venue is reachable now (always True in-process)."""
        ...

    async def connect(self) -> None:
        """Become usable: a remote learns the instruments and the account (shared by the
        clients of one process, reference-counted). Nothing to do in-process."""
        ...

    async def disconnect(self) -> None:
        """Release what `connect` took (a remote's last user closes its sockets)."""
        ...

    # -- market -----------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        """The venue's instruments (a remote: known once connected)."""
        ...

    def instrument(self, instrument_id: InstrumentId) -> Instrument | None:
        """One instrument, None if the venue does not list it."""
        ...

    def subscribe_market(self, listener: Listener) -> None:
        """`listener` gets every instrument at once, then the venue's ticks."""
        ...

    def unsubscribe_market(self, listener: Listener) -> None:
        """Stop delivering to `listener`."""
        ...

    def set_market_interest(self, kind: str, instrument_id: InstrumentId, wanted: bool) -> None:
        """Which ticks (`kind` "quote" / "trade") a client wants: a remote filters at the
        publisher, off the wire; in-process every tick is handed over."""
        ...

    # -- feed control -----------------------------------------------------------------

    def start(self) -> None:
        """Start the market feed (idempotent). A venue process runs a random walk from
        its own start (a client's ``start_feed`` only asks to hear of its end); its
        replay is started by the first client that asks (``start_feed``), once per
        venue process."""
        ...

    def stop(self) -> None:
        """Stop the market feed (a venue process outlives its clients: nothing)."""
        ...

    @property
    def replay_feed(self) -> ReplayFeed | None:
        """The replay a client starts (`start`) once the strategies run and whose end it
        watches; None for a random walk. A remote knows it once connected."""
        ...

    @property
    def market_feed(self) -> ReplayFeed | None:
        """The feed whatever its mode (the replay, or the random walk), for a client to
        watch its failure; a remote knows it once connected (None before)."""
        ...

    # -- account ----------------------------------------------------------------------

    async def attach(self, listener: Listener) -> AccountId:
        """Attach the account listener; returns once the current `AccountState` reached it."""
        ...

    def detach_account(self, listener: Listener) -> None:
        """Stop delivering account events to `listener`."""
        ...

    def account_state(self) -> AccountState | None:
        """The account's latest state (a remote: the last one it was sent, None before)."""
        ...

    # -- commands (the answers are events to the account listener) --------------------

    def submit(self, command: SubmitOrder) -> None:
        """Send an order."""
        ...

    def modify(self, command: ModifyOrder) -> None:
        """Send a modify."""
        ...

    def cancel(self, command: CancelOrder) -> None:
        """Send a cancel."""
        ...

    def cancel_all(self, command: CancelAllOrders) -> None:
        """Send a cancel of every open order of an instrument (and side)."""
        ...

    # -- reports, for reconciliation ---------------------------------------------------

    async def request_order_status_reports(
        self, open_only: bool = True
    ) -> list[OrderStatusReport]:
        """The venue's orders (open ones by default)."""
        ...

    async def request_order_status_reports_for(
        self, client_order_ids: list[str]
    ) -> list[OrderStatusReport]:
        """The venue's state of each order asked, open or closed (unknown ids left out)."""
        ...

    async def request_fill_reports(self) -> list[FillReport]:
        """The venue's recent fills."""
        ...

    async def request_position_reports(self) -> list[PositionStatusReport]:
        """The venue's positions."""
        ...

    async def request_account_state(self) -> AccountState:
        """The account's balances now (a remote asks the venue process; the audit)."""
        ...
