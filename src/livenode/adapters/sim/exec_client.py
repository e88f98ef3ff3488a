"""`SimExecClient`: the node's order link to the simulated venue.

On connect it attaches to the venue's account (the venue answers with the
current `AccountState`, forwarded to `ExecEngine.process`). Commands go to the
venue after an `OrderSubmitted` stamped with the time of sending; every event
the venue sends back is forwarded unchanged through `_handle_event`.

The venue is the in-process `SimVenue` or a `RemoteSimVenue` in front of a
venue process. The remote one is connected first (``await connect()``), attached
with a round trip (``await attach()``, which returns once the venue's
`AccountState` was delivered) and answers the reports asynchronously.

``latencies_ns`` keeps the last ``max_latency_samples`` tick-to-trade latencies
(``clock.timestamp_ns() - command.ts_trigger`` at submit) for benchmarks.
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import TYPE_CHECKING, Any

from livenode.core.uuid import new_id
from livenode.model.events import OrderSubmitted
from livenode.model.identifiers import AccountId, ClientOrderId
from livenode.node.clients import ClientContext, LiveExecutionClient

if TYPE_CHECKING:
    from livenode.adapters.sim.remote import RemoteSimVenue
    from livenode.adapters.sim.venue import SimVenue
    from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport


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
        super().__init__(name, sim_venue.venue, account_id or sim_venue.account_id, context)
        self.sim_venue = sim_venue
        # A remote venue's account is known only once connected: checked then.
        self._expected_account_id = account_id
        self.latencies_ns: deque[int] = deque(maxlen=max(1, max_latency_samples))

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

    # -- commands ---------------------------------------------------------------------

    def submit_order(self, command: SubmitOrder) -> None:
        now = self._clock.timestamp_ns()
        self.latencies_ns.append(now - command.ts_trigger)
        init = command.order
        self._handle_event(
            OrderSubmitted(
                trader_id=init.trader_id,
                strategy_id=init.strategy_id,
                instrument_id=init.instrument_id,
                client_order_id=init.client_order_id,
                account_id=self.account_id,
                event_id=new_id(),
                ts_event=now,
                ts_init=now,
            )
        )
        self.sim_venue.submit(command)

    def modify_order(self, command: ModifyOrder) -> None:
        self.sim_venue.modify(command)

    def cancel_order(self, command: CancelOrder) -> None:
        self.sim_venue.cancel(command)

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
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

    def latency_percentiles(self, *quantiles: float) -> dict[float, int]:
        """Nearest-rank percentiles (0-100) of ``latencies_ns``; empty if no samples."""
        data: list[Any] = sorted(self.latencies_ns)
        if not data:
            return {}
        qs = quantiles or (50.0, 90.0, 99.0)
        return {
            q: data[min(len(data) - 1, max(0, round(q / 100 * len(data)) - 1))] for q in qs
        }


async def _resolve(result: Any) -> Any:
    """`result`, awaited first when it is awaitable (a remote venue's reports)."""
    if inspect.isawaitable(result):
        return await result
    return result
