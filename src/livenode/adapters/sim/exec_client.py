"""`SimExecClient`: the node's order link to the simulated venue.

It holds the venue as a `SimVenueAPI` (the in-process `SimVenue` or a
`RemoteSimVenue` in front of a venue process; it does not ask which). On connect it
connects the venue, attaches to its account (``await attach()`` returns once the
venue's current `AccountState` was forwarded to `ExecEngine.process`) and checks the
account id. Commands go to the venue synchronously (the base class has stamped
tick-to-trade and sent `OrderSubmitted` before `_submit_order` runs: no task per
command); every event the venue sends back, built with the seam's
`ExecEventBuilder`, is forwarded unchanged through `_handle_event`. The reports are
awaited from the venue (a round trip to a venue process, at once in-process).

Created before the data client that builds an embedded venue, it holds a
`PendingSimVenue` and takes the venue at connect.

``latencies_ns`` (of the base class) keeps the last ``max_latency_samples``
tick-to-trade latencies for benchmarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from livenode.adapters.sim.registry import PendingSimVenue
from livenode.engines.clients import ClientContext, LiveExecutionClient
from livenode.model.identifiers import AccountId, ClientOrderId, Venue

if TYPE_CHECKING:
    from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
    from livenode.model.instruments import Instrument
    from livenode.model.objects import AccountBalance
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport
    from livenode.venues.sim.api import SimVenueAPI


class SimExecClient(LiveExecutionClient):
    """Orders to a sim venue, its events back to the execution engine."""

    def __init__(
        self,
        name: str,
        sim_venue: SimVenueAPI | PendingSimVenue,
        context: ClientContext,
        account_id: AccountId | None = None,
        max_latency_samples: int = 100_000,
    ) -> None:
        if isinstance(sim_venue, PendingSimVenue):
            venue, default_account = Venue(sim_venue.venue), AccountId(f"{sim_venue.venue}-001")
            self._pending: PendingSimVenue | None = sim_venue
        else:
            venue, default_account = sim_venue.venue, sim_venue.account_id
            self._pending = None
            self._venue: SimVenueAPI = sim_venue
        super().__init__(name, venue, account_id or default_account, context,
                         max_latency_samples=max_latency_samples)
        # A remote (or pending) venue's account is known only at connect: checked then.
        self._expected_account_id = account_id

    @property
    def sim_venue(self) -> SimVenueAPI:
        """The venue (a pending one is taken on first use, at connect at the latest).

        Raises:
            LookupError: the venue is pending and no sim data client of the node built it.
        """
        if self._pending is not None:
            self._venue = self._pending.resolve()
            self._pending = None
        return self._venue

    async def _connect(self) -> None:
        venue = self.sim_venue
        await venue.connect()
        try:
            expected = self._expected_account_id
            if expected is not None and expected != venue.account_id:
                raise ValueError(
                    f"sim exec client {self.name!r}: account_id {expected} differs from the "
                    f"venue's account {venue.account_id} (set venue_config.account_id instead)"
                )
            self.account_id = await venue.attach(self._handle_event)
        except BaseException:
            # connect() failed as a whole: release the venue (the base class will not).
            venue.detach_account(self._handle_event)
            await venue.disconnect()
            raise

    async def _disconnect(self) -> None:
        self.sim_venue.detach_account(self._handle_event)
        await self.sim_venue.disconnect()

    # -- commands: synchronous hooks (no task per command) ------------------------------

    def _submit_order(self, command: SubmitOrder) -> None:
        self.sim_venue.submit(command)

    def _modify_order(self, command: ModifyOrder) -> None:
        self.sim_venue.modify(command)

    def _cancel_order(self, command: CancelOrder) -> None:
        self.sim_venue.cancel(command)

    def _cancel_all_orders(self, command: CancelAllOrders) -> None:
        self.sim_venue.cancel_all(command)

    # -- reconciliation ---------------------------------------------------------------

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        return await self.sim_venue.request_order_status_reports()

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        return await self.sim_venue.request_order_status_reports_for(
            [str(cid) for cid in client_order_ids])

    async def generate_fill_reports(self) -> list[FillReport]:
        return await self.sim_venue.request_fill_reports()

    async def generate_position_status_reports(self) -> list[PositionStatusReport]:
        return await self.sim_venue.request_position_reports()

    async def generate_balance_reports(self) -> list[AccountBalance] | None:
        state = await self.sim_venue.request_account_state()
        return list(state.balances)

    def venue_instruments(self) -> list[Instrument]:
        return self.sim_venue.instruments()

    def audit_scope(self) -> frozenset[str]:
        # The simulated exchange answers every report the audit asks for.
        return frozenset({"orders", "positions", "balances", "fills"})
