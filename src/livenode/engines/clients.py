"""What the engines need from venue clients, as structural Protocols.

The engines sit below `livenode.node` in the layering, so they cannot import the
client base classes (`livenode.node.clients.LiveDataClient` /
`LiveExecutionClient`); those classes satisfy these Protocols structurally, and so
do the small recording clients of the engine tests.

The endpoint names are repeated here (same strings as `livenode.node.clients`)
for the same reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
    from livenode.model.data import BarType
    from livenode.model.identifiers import AccountId, ClientOrderId, InstrumentId, Venue
    from livenode.model.reports import FillReport, OrderStatusReport, PositionStatusReport

__all__ = ["DATA_ENGINE_PROCESS", "EXEC_ENGINE_PROCESS", "DataClient", "ExecutionClient"]

DATA_ENGINE_PROCESS = "DataEngine.process"
EXEC_ENGINE_PROCESS = "ExecEngine.process"


@runtime_checkable
class DataClient(Protocol):
    """A market data client of one venue (see `LiveDataClient`)."""

    name: str
    venue: Venue
    is_connected: bool

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        """Start delivering quotes of the instrument to `DataEngine.process`."""
        ...

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        """Stop delivering quotes of the instrument."""
        ...

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        """Start delivering trades of the instrument."""
        ...

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        """Stop delivering trades of the instrument."""
        ...

    def subscribe_bars(self, bar_type: BarType) -> bool:
        """Deliver venue-built bars; False lets the engine aggregate them itself."""
        ...

    def unsubscribe_bars(self, bar_type: BarType) -> None:
        """Stop delivering venue-built bars."""
        ...


@runtime_checkable
class ExecutionClient(Protocol):
    """An execution client of one venue (see `LiveExecutionClient`)."""

    name: str
    venue: Venue
    account_id: AccountId
    is_connected: bool

    def submit_order(self, command: SubmitOrder) -> None:
        """Send the order to the venue; events come back through `ExecEngine.process`."""
        ...

    def modify_order(self, command: ModifyOrder) -> None:
        """Ask the venue to modify an order."""
        ...

    def cancel_order(self, command: CancelOrder) -> None:
        """Ask the venue to cancel an order."""
        ...

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        """Ask the venue to cancel every open order of an instrument (and side)."""
        ...

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        """Open orders as the venue knows them (reconciliation)."""
        ...

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        """The venue's state of these orders, open or closed; unknown ones left out
        (reconciliation of orders the venue does not report open)."""
        ...

    async def generate_fill_reports(self) -> list[FillReport]:
        """Fills the venue knows (reconciliation)."""
        ...

    async def generate_position_status_reports(self) -> list[PositionStatusReport]:
        """Positions the venue knows (reconciliation)."""
        ...
