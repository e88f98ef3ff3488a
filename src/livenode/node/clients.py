"""Base classes for venue clients, and the context a client factory receives.

Adapters subclass `LiveDataClient` / `LiveExecutionClient`. A client reaches the
engines only through the message bus: data goes to the `DataEngine.process`
endpoint, order events, account states and reports to `ExecEngine.process`. So a
client never holds a reference to an engine and can live in whichever process the
topology puts its engine in.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.core.clock import Clock
    from livenode.model.commands import (
        CancelAllOrders,
        CancelOrder,
        ModifyOrder,
        SubmitOrder,
    )
    from livenode.model.data import BarType
    from livenode.model.identifiers import AccountId, ClientOrderId, InstrumentId, Venue
    from livenode.model.reports import (
        FillReport,
        OrderStatusReport,
        PositionStatusReport,
    )

DATA_ENGINE_PROCESS = "DataEngine.process"
EXEC_ENGINE_PROCESS = "ExecEngine.process"
#: `ClientContext.resources` key of the node's ``request_stop(reason, *, failure=None)``:
#: a client whose source ended (a finished replay) asks the node to stop; with
#: ``failure`` the run ends as failed (exit 1).
REQUEST_NODE_STOP = "node.request_stop"


@dataclass(frozen=True)
class ClientContext:
    """What the node hands a client factory: its collaborators, never globals.

    `resources` is owned by one node (one process) and lets the clients of one
    adapter share an object, e.g. the simulated venue that both the sim data and
    the sim execution client talk to.
    """

    loop: asyncio.AbstractEventLoop
    msgbus: MessageBus
    cache: Cache
    clock: Clock
    resources: dict[str, Any] = field(default_factory=dict)


class ClientFactory(Protocol):
    """A factory named in the config as ``"package.module:ClassName"``."""

    config_type: ClassVar[type]

    @staticmethod
    def create(name: str, config: Any, context: ClientContext) -> LiveClient: ...


class LiveClient:
    """Common part of data and execution clients: identity, context, connection state."""

    def __init__(self, name: str, venue: Venue, context: ClientContext) -> None:
        self.name = name
        self.venue = venue
        self._context = context
        self._msgbus = context.msgbus
        self._cache = context.cache
        self._clock = context.clock
        self._loop = context.loop
        self.is_connected = False
        self._log = logging.getLogger(f"livenode.adapters.{name}")

    async def connect(self) -> None:
        """Connect to the venue; return when usable (the node times this out)."""
        await self._connect()
        self.is_connected = True

    async def disconnect(self) -> None:
        """Disconnect from the venue; idempotent."""
        if self.is_connected:
            await self._disconnect()
        self.is_connected = False

    async def reconnect(self) -> None:
        """Drop the connection and make a new one (the venue restarted).

        Adapters whose venue session survives a reconnect may override it; the
        default is a plain disconnect and connect.
        """
        await self.disconnect()
        await self.connect()

    def on_trading_started(self) -> None:
        """Called once the strategies have started (and subscribed); nothing by default."""

    async def _connect(self) -> None:
        raise NotImplementedError("a client must implement _connect")

    async def _disconnect(self) -> None:
        raise NotImplementedError("a client must implement _disconnect")


class LiveDataClient(LiveClient):
    """A market data client: delivers instruments, quotes, trades and bars.

    Subclasses implement the `subscribe_*` / `unsubscribe_*` methods and call
    `_handle_data` for every object they receive from the venue.
    """

    def subscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        raise NotImplementedError(f"{self.name} does not offer quote ticks")

    def unsubscribe_quote_ticks(self, instrument_id: InstrumentId) -> None:
        raise NotImplementedError(f"{self.name} does not offer quote ticks")

    def subscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        raise NotImplementedError(f"{self.name} does not offer trade ticks")

    def unsubscribe_trade_ticks(self, instrument_id: InstrumentId) -> None:
        raise NotImplementedError(f"{self.name} does not offer trade ticks")

    def subscribe_bars(self, bar_type: BarType) -> bool:
        """Subscribe to venue-built bars; return False to let the engine aggregate them."""
        return False

    def unsubscribe_bars(self, bar_type: BarType) -> None:
        return None

    def _handle_data(self, data: Any) -> None:
        self._msgbus.send(DATA_ENGINE_PROCESS, data)


class LiveExecutionClient(LiveClient):
    """An execution client: sends commands to its venue, delivers what the venue says.

    Every order event, `AccountState` and report goes to `ExecEngine.process`
    through `_handle_event`.
    """

    def __init__(
        self, name: str, venue: Venue, account_id: AccountId, context: ClientContext
    ) -> None:
        super().__init__(name, venue, context)
        self.account_id = account_id

    def submit_order(self, command: SubmitOrder) -> None:
        raise NotImplementedError(f"{self.name} must implement submit_order")

    def modify_order(self, command: ModifyOrder) -> None:
        raise NotImplementedError(f"{self.name} must implement modify_order")

    def cancel_order(self, command: CancelOrder) -> None:
        raise NotImplementedError(f"{self.name} must implement cancel_order")

    def cancel_all_orders(self, command: CancelAllOrders) -> None:
        raise NotImplementedError(f"{self.name} must implement cancel_all_orders")

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        """Open orders as the venue knows them, for reconciliation at start."""
        return []

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        """The venue's state of these orders, open or closed. A venue that cannot be
        asked per order answers nothing: reconciliation then closes the orders it
        does not report open (rejected if never accepted, else canceled)."""
        return []

    async def generate_fill_reports(self) -> list[FillReport]:
        return []

    async def generate_position_status_reports(self) -> list[PositionStatusReport]:
        return []

    def _handle_event(self, event: Any) -> None:
        self._msgbus.send(EXEC_ENGINE_PROCESS, event)
