"""`SimDataClient`: the node's market data link to the simulated venue.

On connect it subscribes to the venue's market (receiving every instrument at
once, delivered to `DataEngine.process`) and starts the venue's feed; quotes and
trades are forwarded only for subscribed instruments. It holds the venue only
through the message-shaped methods (`subscribe_market` / `unsubscribe_market`,
`start` / `stop`), so the venue can later sit behind a socket.

In-process the venue stamps ``ts_init`` of each tick with the shared clock at
the moment it hands the tick over, which is the moment this client receives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livenode.model.data import QuoteTick, TradeTick
from livenode.model.identifiers import InstrumentId
from livenode.node.clients import ClientContext, LiveDataClient

if TYPE_CHECKING:
    from livenode.adapters.sim.venue import SimVenue


class SimDataClient(LiveDataClient):
    """Market data from a `SimVenue`, filtered to the subscribed instruments."""

    def __init__(self, name: str, sim_venue: SimVenue, context: ClientContext) -> None:
        super().__init__(name, sim_venue.venue, context)
        self.sim_venue = sim_venue
        self._quote_subs: set[InstrumentId] = set()
        self._trade_subs: set[InstrumentId] = set()
        self.ticks_forwarded = 0

    async def _connect(self) -> None:
        self.sim_venue.subscribe_market(self._on_market)
        self.sim_venue.start()

    async def _disconnect(self) -> None:
        # In-process the venue lives and dies with the node; its feed stops with
        # the data link. (A venue process of its own would keep running.)
        self.sim_venue.unsubscribe_market(self._on_market)
        self.sim_venue.stop()

    # -- subscriptions ----------------------------------------------------------------

    def _check(self, instrument_id: InstrumentId) -> None:
        if self.sim_venue.instrument(instrument_id) is None:
            self._log.warning(
                "%s: subscription to %s, which venue %s does not list",
                self.name,
                instrument_id,
                self.venue,
            )

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self._check(instrument_id)
        self._quote_subs.add(instrument_id)

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        self._quote_subs.discard(instrument_id)

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self._check(instrument_id)
        self._trade_subs.add(instrument_id)

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        self._trade_subs.discard(instrument_id)

    @property
    def subscribed_quote_ticks(self) -> set[InstrumentId]:
        return set(self._quote_subs)

    @property
    def subscribed_trade_ticks(self) -> set[InstrumentId]:
        return set(self._trade_subs)

    # -- from the venue ---------------------------------------------------------------

    def _on_market(self, msg: Any) -> None:
        kind = type(msg)
        if kind is QuoteTick:
            if msg.instrument_id in self._quote_subs:
                self.ticks_forwarded += 1
                self._handle_data(msg)
        elif kind is TradeTick:
            if msg.instrument_id in self._trade_subs:
                self.ticks_forwarded += 1
                self._handle_data(msg)
        else:  # an instrument definition: always delivered
            self._handle_data(msg)
