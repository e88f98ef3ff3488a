"""`SimExecClient`: the node's order link to the simulated venue.

On connect it attaches to the venue's account (the venue answers with the
current `AccountState`, forwarded to `ExecEngine.process`). Commands go to the
venue synchronously (the base class has stamped tick-to-trade and sent
`OrderSubmitted` before `_submit_order` runs); every event the venue sends back,
built with the seam's `ExecEventBuilder`, is forwarded unchanged through
`_handle_event`.

The venue is the in-process `SimVenue` or a `RemoteSimVenue` in front of a
venue process. The remote one is connected first (``await connect()``), attached
with a round trip (``await attach()``, which returns once the venue's
`AccountState` was delivered) and answers the reports asynchronously.

``latencies_ns`` (of the base class) keeps the last ``max_latency_samples``
tick-to-trade latencies for benchmarks.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from livenode.engines.clients import ClientContext, LiveExecutionClient
from livenode.model.identifiers import AccountId, ClientOrderId

if TYPE_CHECKING:
    from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport
    from livenode.venues.sim.remote import RemoteSimVenue
    from livenode.venues.sim.venue import SimVenue


class SimExecClient(LiveExecutionClient):
    """Orders to a `SimVenue`, its events back to the execution engine."""

    def __init__(
        self,
        name: str,
        sim_venue: SimVenue | RemoteSimVenue,
        context: ClientContext,
        account_id: AccountId | None = None,
        max_latency_samples: int = 100_000,
    ) -> None:
        super().__init__(name, sim_venue.venue, account_id or sim_venue.account_id, context,
                         max_latency_samples=max_latency_samples)
        self.sim_venue = sim_venue
        # A remote venue's account is known only once connected: checked then.
        self._expected_account_id = account_id

    async def _connect(self) -> None:
        venue = self.sim_venue
        connect = getattr(venue, "connect", None)
        if connect is None:
            self.account_id = venue.attach_account(self._handle_event)
            return
        await connect()
        try:
            expected = self._expected_account_id
            if expected is not None and expected != venue.account_id:
                raise ValueError(
                    f"sim exec client {self.name!r}: account_id {expected} differs from the "
                    f"venue's account {venue.account_id} (set venue_config.account_id instead)"
                )
            self.account_id = await venue.attach(self._handle_event)  # type: ignore[union-attr]
        except BaseException:
            # connect() failed as a whole: release the venue (the base class will not).
            venue.detach_account(self._handle_event)
            await venue.disconnect()  # type: ignore[union-attr]
            raise

    async def _disconnect(self) -> None:
        self.sim_venue.detach_account(self._handle_event)
        disconnect = getattr(self.sim_venue, "disconnect", None)
        if disconnect is not None:
            await disconnect()

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

    # The in-process venue answers at once, the remote one with a round trip.

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        reports: list[OrderStatusReport] = await _resolve(self.sim_venue.order_status_reports())
        return reports

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        ids = [str(cid) for cid in client_order_ids]
        reports: list[OrderStatusReport] = await _resolve(
            self.sim_venue.order_status_reports_for(ids))
        return reports

    async def generate_fill_reports(self) -> list[FillReport]:
        reports: list[FillReport] = await _resolve(self.sim_venue.fill_reports())
        return reports

    async def generate_position_status_reports(self) -> list[PositionStatusReport]:
        reports: list[PositionStatusReport] = await _resolve(self.sim_venue.position_reports())
        return reports


async def _resolve(result: Any) -> Any:
    """`result`, awaited first when it is awaitable (a remote venue's reports)."""
    if inspect.isawaitable(result):
        return await result
    return result
