"""The FIX 4.4 execution client: a `LiveExecutionClient` over one `FixSession`.

Commands become FIX messages; every ExecutionReport and OrderCancelReject becomes the
node's events through the base class's ``generate_*`` builders:

========================  ==================================================
command                   message
========================  ==================================================
submit                    NewOrderSingle (D): market, limit, stop, stop-limit;
                          TIF DAY/GTC/IOC/FOK/GTD (ExpireTime); post-only as
                          ExecInst 6 (participate, do not initiate)
modify                    OrderCancelReplaceRequest (G)
cancel / cancel-all       OrderCancelRequest (F), one per open order
reconciliation            OrderMassStatusRequest (AF, all orders) and
                          OrderStatusRequest (H) per order; RequestForPositions
                          (AN) with ``request_positions`` (see `positions`)
========================  ==================================================

ExecType -> event: 0 New -> accepted; F Trade (and 1/2 of older peers) -> filled
(accepted first if the New was not seen); 4 Canceled -> canceled; C Expired -> expired;
5 Replaced and D Restated -> updated (quantity, price, trigger price as the venue now
has them); 8 Rejected -> rejected; A/6/E (pending), 3, 7, 9, B, I -> logged only;
H/G (trade cancel/correct) -> logged and counted (the node's model cannot undo a fill).
OrderCancelReject (9) -> cancel rejected (434=1) or modify rejected (434=2).

FIX ClOrdIDs: a submit uses the order's ClientOrderId; each cancel or replace gets a new
one, ``{client_order_id}:C{n}`` / ``:R{n}``, so any ClOrdID the venue sends back names the
node's order even after a restart of the node.

The hooks send their message and wait (bounded by the base class's ``command_timeout``)
for the venue's first answer about it; a session that is not logged on fails the command
at once (the base class turns that into the rejection). A submit sends within the
engine's call (no task first) and returns only the wait; modifies and cancels are
coroutines.
Duplicate reports (PossDupFlag resends) are recognised by ExecID and applied once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from livenode.adapters.fix.codec import FixDecodeError, FixMessage
from livenode.adapters.fix.config import FixExecClientConfig
from livenode.adapters.fix.positions import POSITION_MSG_TYPES, PositionRequests
from livenode.adapters.fix.seqnums import (
    NAMESPACE,
    DatabaseSeqNumStore,
    FileSeqNumStore,
    SeqNumStore,
    seqnums_key,
)
from livenode.adapters.fix.session import FixSession, SessionSettings
from livenode.engines.clients import ClientContext, ClientFactory, LiveExecutionClient
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.enums import (
    AccountType,
    LiquiditySide,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    TradeId,
    Venue,
    VenueOrderId,
)
from livenode.model.objects import AccountBalance, Currency, Money

if TYPE_CHECKING:
    from livenode.model.instruments import Instrument
    from livenode.model.orders import Order
    from livenode.model.reports import OrderStatusReport, PositionStatusReport

__all__ = ["FixExecClient", "FixExecClientFactory"]

_SIDE = {OrderSide.BUY: "1", OrderSide.SELL: "2"}
_SIDE_IN = {"1": OrderSide.BUY, "2": OrderSide.SELL}
_TYPE = {OrderType.MARKET: "1", OrderType.LIMIT: "2", OrderType.STOP_MARKET: "3",
         OrderType.STOP_LIMIT: "4"}
_TYPE_IN = {v: k for k, v in _TYPE.items()}
_TIF = {TimeInForce.DAY: "0", TimeInForce.GTC: "1", TimeInForce.IOC: "3",
        TimeInForce.FOK: "4", TimeInForce.GTD: "6"}
_TIF_IN = {v: k for k, v in _TIF.items()}
_STATUS_IN = {
    "0": OrderStatus.ACCEPTED, "1": OrderStatus.PARTIALLY_FILLED, "2": OrderStatus.FILLED,
    "3": OrderStatus.ACCEPTED, "4": OrderStatus.CANCELED, "5": OrderStatus.ACCEPTED,
    "6": OrderStatus.PENDING_CANCEL, "7": OrderStatus.ACCEPTED, "8": OrderStatus.REJECTED,
    "9": OrderStatus.ACCEPTED, "A": OrderStatus.SUBMITTED, "B": OrderStatus.ACCEPTED,
    "C": OrderStatus.EXPIRED, "D": OrderStatus.ACCEPTED, "E": OrderStatus.PENDING_UPDATE,
}
_SUFFIX = re.compile(r"^(.*):[CR]\d+$")
_OPEN_STATUSES = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
                            OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE,
                            OrderStatus.TRIGGERED, OrderStatus.SUBMITTED})


def _utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def base_cl_ord_id(cl_ord_id: str) -> str:
    """The node's ClientOrderId a FIX ClOrdID belongs to (strips ``:C{n}`` / ``:R{n}``)."""
    match = _SUFFIX.match(cl_ord_id)
    return match.group(1) if match else cl_ord_id


class FixExecClient(LiveExecutionClient):
    """Execution over a FIX 4.4 session (see the module docstring)."""

    # Tick-to-trade is taken once the NewOrderSingle has been written to the socket:
    # its encoding and the durable save of its sequence number are part of the path.
    stamps_on_send = True

    def __init__(self, name: str, config: FixExecClientConfig, context: ClientContext) -> None:
        super().__init__(name, Venue(config.venue), AccountId(config.account_id), context)
        self._session_lost = False
        self._closing = False
        self._config = config
        # The real store is chosen at the first connect, when the node's cache database
        # (if any) is open; until then nothing can be sent.
        self._store_ready = False
        self.session = FixSession(
            SessionSettings(
                sender_comp_id=config.sender_comp_id, target_comp_id=config.target_comp_id,
                host=config.host, port=config.port, heartbeat=config.heartbeat,
                reset_on_logon=config.reset_on_logon, tls=config.tls,
                tls_ca_file=config.tls_ca_file,
                reconnect_initial=config.reconnect_initial,
                reconnect_max=config.reconnect_max,
            ),
            SeqNumStore(), on_message=self._on_message, on_logon=self._on_logon,
            on_logout=self._on_logout, log=self._log,
        )
        self._positions = PositionRequests(self.session.send, config.account_id, self._loop)
        self._req = 0
        self._current: dict[ClientOrderId, str] = {}  # the order's live FIX ClOrdID
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._status_wait: dict[str, asyncio.Future[FixMessage]] = {}
        self._mass: dict[str, tuple[list[FixMessage], asyncio.Future[None]]] = {}
        self._exec_ids: OrderedDict[str, None] = OrderedDict()
        self.counters: dict[str, int] = {"reports": 0, "duplicate_reports": 0,
                                         "unknown_orders": 0, "trade_corrections": 0}

    # -- connection ------------------------------------------------------------------------

    def _open_store(self) -> SeqNumStore:
        """The cache database's entry when the node has a database (adopting the file of
        an earlier run without one), else the file in ``data_dir``."""
        config = self._config
        path = (Path(config.data_dir).expanduser()
                / f"fix-{config.sender_comp_id}-{config.target_comp_id}.seqnums")
        state = self._context.adapter_state(NAMESPACE)
        if state is None:
            return FileSeqNumStore(path)
        return DatabaseSeqNumStore(
            state, seqnums_key(config.sender_comp_id, config.target_comp_id), adopt_file=path)

    async def _connect(self) -> None:
        if not self._store_ready:
            self.session.store = self._open_store()
            self._store_ready = True
            self._log.info("%s: FIX sequence numbers in %s (out %d, in %d)", self.name,
                           self.session.store.describe(), self.session.store.next_out,
                           self.session.store.next_in)
        # The credentials are read at each connect (not kept in the config or the log).
        self.session.settings = dataclasses.replace(
            self.session.settings, username=_env(self._config.username_env),
            password=_env(self._config.password_env))
        self.session.start()
        if not await self.session.wait_in_sync(self._config.logon_timeout):
            await self.session.stop("logon timed out")
            raise ConnectionError(
                f"{self.name}: no FIX logon to {self._config.host}:{self._config.port} "
                f"within {self._config.logon_timeout:g}s")
        balances = []
        for text in self._config.balances:
            amount, code = text.split()
            ccy = Currency.from_str(code)
            balances.append(AccountBalance(total=Money.new(amount, ccy),
                                           locked=Money.new(0, ccy),
                                           free=Money.new(amount, ccy)))
        self.generate_account_state(AccountType[self._config.account_type], balances)

    async def _disconnect(self) -> None:
        self._closing = True  # our own logout: not a lost session
        try:
            await self.session.stop()
        finally:
            self._closing = False
            self.session.store.close()
        for waiting in self._waiting.values():
            waiting.cancel()
        for status in self._status_wait.values():
            status.cancel()

    def _on_logon(self) -> None:
        self._log.info("%s: FIX session logged on and in sequence", self.name)
        if self._session_lost:
            # A logon after a loss: the engine reconciles, then trading resumes.
            self._session_lost = False
            self.session_restored()

    def _on_logout(self, reason: str) -> None:
        self._log.warning("%s: FIX session down: %s", self.name, reason)
        if self.is_connected and not self._closing and not self._session_lost:
            # Not our own disconnect: trading to the venue halts until it is back.
            self._session_lost = True
            self.session_lost(reason)

    # -- commands --------------------------------------------------------------------------

    def _next_id(self, kind: str, coid: ClientOrderId) -> str:
        self._req += 1
        return f"{coid}:{kind}{self._req}"

    def _submit_order(self, command: SubmitOrder) -> Awaitable[None]:
        # Sent here, within `submit_order` (no task to wait for): only the wait for the
        # venue's answer is left to the returned coroutine.
        init = command.order
        clid = str(init.client_order_id)
        fields: list[tuple[int, str]] = [
            (11, clid), (55, init.instrument_id.symbol.value), (54, _SIDE[init.side]),
            (60, _utc(self._clock.timestamp_ns())), (38, str(init.quantity)),
            (40, _TYPE[init.order_type]),
        ]
        if init.price is not None:
            fields.append((44, str(init.price)))
        if init.trigger_price is not None:
            fields.append((99, str(init.trigger_price)))
        fields.append((59, _TIF[init.time_in_force]))
        if init.time_in_force is TimeInForce.GTD and init.expire_time_ns is not None:
            fields.append((126, _utc(init.expire_time_ns)))
        if init.post_only:
            fields.append((18, "6"))
        self._current[init.client_order_id] = clid
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiting[clid] = fut
        try:
            self.session.send("D", fields)
        except BaseException:
            self._waiting.pop(clid, None)
            raise
        self._stamp_sent(command)
        return self._answer(clid, fut)

    async def _answer(self, clid: str, fut: asyncio.Future[None]) -> None:
        try:
            await fut
        finally:
            self._waiting.pop(clid, None)

    async def _modify_order(self, command: ModifyOrder) -> None:
        order = self._order(command.client_order_id)
        clid = self._next_id("R", command.client_order_id)
        fields = self._amend_fields(order, clid)
        fields += [
            (38, str(command.quantity or order.quantity)), (40, _TYPE[order.order_type]),
        ]
        price = command.price or order.price
        if price is not None:
            fields.append((44, str(price)))
        trigger = command.trigger_price or order.trigger_price
        if trigger is not None:
            fields.append((99, str(trigger)))
        fields.append((59, _TIF[order.time_in_force]))
        await self._request("G", fields, clid)

    async def _cancel_order(self, command: CancelOrder) -> None:
        order = self._order(command.client_order_id)
        clid = self._next_id("C", command.client_order_id)
        fields = [*self._amend_fields(order, clid), (38, str(order.quantity))]
        await self._request("F", fields, clid)

    async def _cancel_all_orders(self, command: CancelAllOrders) -> None:
        waits = []
        for order in self._cache.orders_open(instrument_id=command.instrument_id,
                                             strategy_id=command.strategy_id,
                                             side=command.order_side):
            clid = self._next_id("C", order.client_order_id)
            fields = [*self._amend_fields(order, clid), (38, str(order.quantity))]
            waits.append(self._request("F", fields, clid))
        await asyncio.gather(*waits)

    def _order(self, client_order_id: ClientOrderId) -> Order:
        order = self._cache.order(client_order_id)
        if order is None:
            raise KeyError(f"order {client_order_id} not in the cache")
        return order

    def _amend_fields(self, order: Order, clid: str) -> list[tuple[int, str]]:
        coid = order.client_order_id
        fields = [(41, self._current.get(coid, str(coid))), (11, clid)]
        if order.venue_order_id is not None:
            fields.append((37, str(order.venue_order_id)))
        fields += [(55, order.instrument_id.symbol.value), (54, _SIDE[order.side]),
                   (60, _utc(self._clock.timestamp_ns()))]
        return fields

    async def _request(self, msg_type: str, fields: list[tuple[int, str]], clid: str) -> None:
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiting[clid] = fut
        try:
            self.session.send(msg_type, fields)
            await fut
        finally:
            self._waiting.pop(clid, None)

    def _answered(self, clid: str) -> None:
        fut = self._waiting.get(clid)
        if fut is not None and not fut.done():
            fut.set_result(None)

    # -- incoming --------------------------------------------------------------------------

    def _on_message(self, msg: FixMessage) -> None:
        mtype = msg.msg_type
        if mtype == "8":
            self._on_execution_report(msg)
        elif mtype == "9":
            self._on_cancel_reject(msg)
        elif mtype in POSITION_MSG_TYPES:
            self._positions.on_message(msg)
        else:  # "j" BusinessMessageReject
            self._log.warning("%s: business reject of %s %s: %s", self.name, msg.get(372),
                              msg.get(379), msg.get(58))
            ref = msg.get(379)
            if msg.get(372) == "AN":
                self._positions.fail_all(f"RequestForPositions refused by the venue "
                                         f"(BusinessMessageReject): {msg.get(58)}")
            elif ref is not None:
                self._fail_request(ref, f"business reject: {msg.get(58)}")

    def _fail_request(self, clid: str, reason: str) -> None:
        fut = self._waiting.get(clid)
        if fut is not None and not fut.done():
            fut.set_exception(RuntimeError(reason))

    def _on_execution_report(self, msg: FixMessage) -> None:
        self.counters["reports"] += 1
        exec_type = msg[150]
        if 584 in msg:
            self._mass_report(msg)
            return
        if exec_type == "I":
            fut = self._status_wait.get(msg.get(11) or "")
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return
        exec_id = msg[17]
        if exec_id in self._exec_ids:
            self.counters["duplicate_reports"] += 1
            return
        self._exec_ids[exec_id] = None
        while len(self._exec_ids) > 100_000:
            self._exec_ids.popitem(last=False)
        clid = msg[11]
        coid = ClientOrderId(base_cl_ord_id(clid))
        order = self._cache.order(coid)
        try:
            if order is None:
                self.counters["unknown_orders"] += 1
                self._log.warning("%s: report for an order the node does not know: %r",
                                  self.name, msg)
                return
            self._apply_report(order, exec_type, msg, clid)
        finally:
            self._answered(clid)

    def _apply_report(self, order: Order, exec_type: str, msg: FixMessage, clid: str) -> None:
        init = order.init_event
        venue_order_id = VenueOrderId(msg[37])
        ts_event = self._clock.timestamp_ns()
        status = order.status
        if exec_type in ("0", "F", "1", "2", "5", "D", "4", "C") and msg[37] != "NONE" \
                and status is OrderStatus.SUBMITTED:
            self.generate_order_accepted(init, venue_order_id, ts_event)
        if exec_type == "0":
            return
        if exec_type in ("F", "1", "2"):
            instrument = self._instrument(order.instrument_id)
            last_qty = instrument.make_qty(msg[32])
            last_px = instrument.make_price(msg[31])
            commission = Money.new(msg.get(12) or "0", instrument.quote_currency)
            liquidity = LiquiditySide.MAKER if msg.get(851) == "1" else LiquiditySide.TAKER
            self.generate_order_filled(
                init, venue_order_id=venue_order_id, trade_id=TradeId(msg[17]),
                order_side=order.side, order_type=order.order_type, last_qty=last_qty,
                last_px=last_px, commission=commission, liquidity_side=liquidity,
                ts_event=ts_event)
        elif exec_type == "8":
            self.generate_order_rejected(init, msg.get(58) or "rejected by the venue",
                                         ts_event)
        elif exec_type == "4":
            if not order.is_closed:
                self.generate_order_canceled(init, ts_event)
        elif exec_type == "C":
            if not order.is_closed:
                self.generate_order_expired(init, ts_event)
        elif exec_type in ("5", "D"):
            self._current[order.client_order_id] = clid
            instrument = self._instrument(order.instrument_id)
            price = msg.get(44)
            trigger = msg.get(99)
            self.generate_order_updated(
                init, instrument.make_qty(msg[38]),
                instrument.make_price(price) if price is not None else None,
                instrument.make_price(trigger) if trigger is not None else None, ts_event)
        elif exec_type in ("H", "G"):
            self.counters["trade_corrections"] += 1
            self._log.error("%s: venue %s trade %s of %s: not applied (%s)", self.name,
                            "canceled" if exec_type == "H" else "corrected", msg.get(19),
                            order.client_order_id, msg.get(58))
        else:
            self._log.info("%s: %s: ExecType %s OrdStatus %s", self.name,
                           order.client_order_id, exec_type, msg.get(39))

    def _on_cancel_reject(self, msg: FixMessage) -> None:
        clid = msg[11]
        coid = ClientOrderId(base_cl_ord_id(clid))
        order = self._cache.order(coid)
        reason = msg.get(58) or f"CxlRejReason {msg.get(102)}"
        try:
            if order is None:
                self.counters["unknown_orders"] += 1
                return
            if msg[434] == "2":
                self.generate_order_modify_rejected(order.init_event, reason)
            else:
                self.generate_order_cancel_rejected(order.init_event, reason)
        finally:
            self._answered(clid)

    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        instrument = self._cache.instrument(instrument_id)
        if instrument is None:
            raise FixDecodeError(f"unknown instrument {instrument_id}", tag=55, reason=5)
        return instrument

    # -- reconciliation --------------------------------------------------------------------

    def _mass_report(self, msg: FixMessage) -> None:
        entry = self._mass.get(msg[584])
        if entry is None:
            return
        reports, fut = entry
        if msg.get(911) != "0":
            reports.append(msg)
        if msg.get(912) == "Y" and not fut.done():
            fut.set_result(None)

    async def mass_status(self) -> list[FixMessage]:
        """Every order the venue reports (OrderMassStatusRequest, all orders)."""
        self._req += 1
        req_id = f"MS-{self._clock.timestamp_ns()}-{self._req}"
        fut: asyncio.Future[None] = self._loop.create_future()
        reports: list[FixMessage] = []
        self._mass[req_id] = (reports, fut)
        try:
            self.session.send("AF", [(584, req_id), (585, "7")])
            await asyncio.wait_for(fut, self._config.request_timeout)
        finally:
            self._mass.pop(req_id, None)
        return reports

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        """Open orders at the venue, from an OrderMassStatusRequest."""
        out = []
        for msg in await self.mass_status():
            report = self._status_report(msg)
            if report is not None and report.order_status in _OPEN_STATUSES:
                out.append(report)
        return out

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        """Each order's state at the venue, from an OrderStatusRequest per order."""
        out = []
        for coid in client_order_ids:
            order = self._cache.order(coid)
            if order is None:
                continue
            clid = self._current.get(coid, str(coid))
            fut: asyncio.Future[FixMessage] = self._loop.create_future()
            self._status_wait[clid] = fut
            fields = [(11, clid)]
            if order.venue_order_id is not None:
                fields.append((37, str(order.venue_order_id)))
            fields += [(55, order.instrument_id.symbol.value), (54, _SIDE[order.side])]
            try:
                self.session.send("H", fields)
                msg = await asyncio.wait_for(fut, self._config.request_timeout)
            finally:
                self._status_wait.pop(clid, None)
            report = self._status_report(msg)
            if report is not None:
                out.append(report)
        return out

    async def generate_position_status_reports(self) -> list[PositionStatusReport]:
        """The venue's positions, from a RequestForPositions when the peer supports it
        (``request_positions``); none otherwise (the base class's answer)."""
        if not self._config.request_positions:
            return []
        messages = await self._positions.request(self._config.request_timeout)
        return self._positions.to_reports(messages, venue=self.venue, cache=self._cache,
                                          events=self.events,
                                          now=self._clock.timestamp_ns())

    def _status_report(self, msg: FixMessage) -> OrderStatusReport | None:
        if msg.get(37) in (None, "NONE"):
            return None
        instrument_id = InstrumentId.from_str(f"{msg[55]}.{self.venue}")
        instrument = self._cache.instrument(instrument_id)
        if instrument is None:
            self._log.warning("%s: status of an order in unknown %s", self.name, instrument_id)
            return None
        clid = msg.get(11)
        coid = ClientOrderId(base_cl_ord_id(clid)) if clid else None
        if coid is not None and clid is not None:
            self._current[coid] = clid
        cum = Decimal(msg.get(14) or "0")
        now = self._clock.timestamp_ns()
        price, trigger = msg.get(44), msg.get(99)
        return self.events.order_status_report(
            now, instrument_id=instrument_id, client_order_id=coid,
            venue_order_id=VenueOrderId(msg[37]), order_side=_SIDE_IN[msg[54]],
            order_type=_TYPE_IN.get(msg.get(40) or "2", OrderType.LIMIT),
            time_in_force=_TIF_IN.get(msg.get(59) or "1", TimeInForce.GTC),
            order_status=_STATUS_IN.get(msg[39], OrderStatus.ACCEPTED),
            quantity=instrument.make_qty(msg[38]), filled_qty=instrument.make_qty(cum),
            price=instrument.make_price(price) if price is not None else None,
            trigger_price=instrument.make_price(trigger) if trigger is not None else None,
            avg_px=float(msg.get(6) or 0) if cum > 0 else None,
            post_only="6" in (msg.get(18) or "").split(),
            ts_accepted=now, ts_last=now,
        )


def _env(name: str | None) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if value is None:
        raise ConnectionError(f"environment variable {name} (named in the config) is not set")
    return value


class FixExecClientFactory(ClientFactory):
    """Builds a `FixExecClient` (config: `FixExecClientConfig`)."""

    config_type: ClassVar[type] = FixExecClientConfig

    @staticmethod
    def create(name: str, config: Any, context: ClientContext) -> LiveExecutionClient:
        """A FIX execution client (not yet connected)."""
        return FixExecClient(name, config, context)
