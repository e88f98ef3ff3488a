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

The venue is the truth: an event's time is the report's TransactTime (60; the local
clock when absent or malformed, counted in ``bad_transact_times``); a fill of an order
the node does not know is handed to the engine as such (it adopts it as an EXTERNAL
order); a session-level Reject (35=3) of one of our messages is linked to it by
RefSeqNum and rejects the order, the cancel or the modify at once with the venue's
Text; an answer to a status request that cannot be decoded fails that request at once;
a cancel or modify without an answer within ``command_timeout`` is not called rejected:
the client asks the venue what became of the order, and its answer decides.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections import OrderedDict
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from livenode.adapters.fix.codec import FixDecodeError, FixMessage
from livenode.adapters.fix.config import FixExecClientConfig
from livenode.adapters.fix.parsing import (
    OPEN_STATUSES,
    SIDE,
    SIDE_IN,
    TIF,
    TYPE,
    TYPE_IN,
    base_cl_ord_id,
    fill_of,
    peek_fields,
    status_report,
    transact_time_ns,
    utc,
)
from livenode.adapters.fix.positions import POSITION_MSG_TYPES, PositionRequests
from livenode.adapters.fix.requests import FixRequestError, StatusRequests
from livenode.adapters.fix.seqnums import (
    NAMESPACE,
    DatabaseSeqNumStore,
    FileSeqNumStore,
    SeqNumStore,
    seqnums_key,
)
from livenode.adapters.fix.session import FixSession, SessionSettings
from livenode.engines.clients import (
    COMMAND_TIMEOUT,
    ClientContext,
    ClientFactory,
    LiveExecutionClient,
)
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.enums import AccountType, OrderStatus, OrderType, TimeInForce
from livenode.model.identifiers import (
    AccountId,
    ClientOrderId,
    InstrumentId,
    StrategyId,
    TradeId,
    TraderId,
    Venue,
    VenueOrderId,
)
from livenode.model.objects import AccountBalance, Currency, Money

if TYPE_CHECKING:
    from livenode.engines.clients import ExecCommand
    from livenode.model.instruments import Instrument
    from livenode.model.orders import Order
    from livenode.model.reports import OrderStatusReport, PositionStatusReport

__all__ = ["FixExecClient", "FixExecClientFactory", "FixRequestError", "base_cl_ord_id"]

#: The strategy a fill of an order the node does not know is reported under (the
#: engine's reconciliation adopts it as an EXTERNAL order of that strategy).
EXTERNAL = StrategyId("EXTERNAL")
#: How many outgoing application messages are remembered (MsgSeqNum -> what it was)
#: to link a session-level Reject to its order: far more than can be unanswered.
_SENT_MEMORY = 10_000


class ForeignOrder(msgspec.Struct, frozen=True, kw_only=True):
    """Names an order the node does not know (an `OrderRef` for its fill event)."""

    trader_id: TraderId
    strategy_id: StrategyId
    instrument_id: InstrumentId
    client_order_id: ClientOrderId

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
            on_logout=self._on_logout, log=self._log, on_reject=self._on_session_reject,
            on_invalid=self._on_invalid,
        )
        self._positions = PositionRequests(self.session.send, config.account_id, self._loop)
        self._req = 0
        self._current: dict[ClientOrderId, str] = {}  # the order's live FIX ClOrdID
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._requests = StatusRequests(name, self._send, self._loop, config.request_timeout)
        self._exec_ids: OrderedDict[str, None] = OrderedDict()
        # MsgSeqNum -> (MsgType, ClOrdID or request id) of our application messages.
        self._sent: OrderedDict[int, tuple[str, str]] = OrderedDict()
        self._settling: set[asyncio.Task[None]] = set()
        self.counters: dict[str, int] = {
            "reports": 0, "duplicate_reports": 0, "unknown_orders": 0,
            "trade_corrections": 0, "external_fills": 0, "bad_transact_times": 0,
            "session_rejects": 0, "unanswered_amends": 0}

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
        self._requests.cancel_all()
        for task in list(self._settling):
            task.cancel()

    def _on_logon(self) -> None:
        self._log.info("%s: FIX session logged on and in sequence", self.name)
        if self._session_lost:
            # A logon after a loss: the engine reconciles, then trading resumes.
            self._session_lost = False
            self.session_restored()

    def _on_logout(self, reason: str) -> None:
        if self._closing:  # our own disconnect: the normal end of a session
            self._log.info("%s: FIX session closed: %s", self.name, reason)
            return
        self._log.warning("%s: FIX session down: %s", self.name, reason)
        if self.is_connected and not self._session_lost:
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
            (11, clid), (55, init.instrument_id.symbol.value), (54, SIDE[init.side]),
            (60, utc(self._clock.timestamp_ns())), (38, str(init.quantity)),
            (40, TYPE[init.order_type]),
        ]
        if init.price is not None:
            fields.append((44, str(init.price)))
        if init.trigger_price is not None:
            fields.append((99, str(init.trigger_price)))
        fields.append((59, TIF[init.time_in_force]))
        if init.time_in_force is TimeInForce.GTD and init.expire_time_ns is not None:
            fields.append((126, utc(init.expire_time_ns)))
        if init.post_only:
            fields.append((18, "6"))
        self._current[init.client_order_id] = clid
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiting[clid] = fut
        try:
            self._send("D", fields, clid)
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
            (38, str(command.quantity or order.quantity)), (40, TYPE[order.order_type]),
        ]
        price = command.price or order.price
        if price is not None:
            fields.append((44, str(price)))
        trigger = command.trigger_price or order.trigger_price
        if trigger is not None:
            fields.append((99, str(trigger)))
        fields.append((59, TIF[order.time_in_force]))
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
        fields += [(55, order.instrument_id.symbol.value), (54, SIDE[order.side]),
                   (60, utc(self._clock.timestamp_ns()))]
        return fields

    async def _request(self, msg_type: str, fields: list[tuple[int, str]], clid: str) -> None:
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiting[clid] = fut
        try:
            self._send(msg_type, fields, clid)
            await fut
        finally:
            self._waiting.pop(clid, None)

    def _send(self, msg_type: str, fields: list[tuple[int, str]], ref: str) -> None:
        """Send an application message, remembering its MsgSeqNum for a Reject of it."""
        seq = self.session.send(msg_type, fields)
        self._sent.pop(seq, None)  # a number used again after a reset: the newest counts
        self._sent[seq] = (msg_type, ref)
        while len(self._sent) > _SENT_MEMORY:
            self._sent.popitem(last=False)

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

    def _ts_event(self, msg: FixMessage) -> int:
        """The venue's TransactTime (60), else (absent or malformed: counted) now."""
        ts = transact_time_ns(msg.get(60))
        if ts is None:
            self.counters["bad_transact_times"] += 1
            return self._clock.timestamp_ns()
        return ts

    def _on_execution_report(self, msg: FixMessage) -> None:
        self.counters["reports"] += 1
        exec_type = msg[150]
        if self._requests.on_report(msg):
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
                self._unknown_order_report(msg, exec_type, clid)
                return
            self._apply_report(order, exec_type, msg, clid)
        finally:
            self._answered(clid)

    def _unknown_order_report(self, msg: FixMessage, exec_type: str, clid: str) -> None:
        self.counters["unknown_orders"] += 1
        if exec_type not in ("F", "1", "2"):
            self._log.warning("%s: report for an order the node does not know: %r",
                              self.name, msg)
            return
        # Money moved at the venue (another session on the account, or an order of a
        # node that lost its state): the fill goes to the engine as it is, which adopts
        # it as an EXTERNAL order so that positions and balances follow the venue.
        instrument = self._instrument(InstrumentId.from_str(f"{msg[55]}.{self.venue}"))
        trader_id = self._msgbus.trader_id
        foreign = ForeignOrder(
            trader_id=trader_id if isinstance(trader_id, TraderId) else TraderId(str(trader_id)),
            strategy_id=EXTERNAL, instrument_id=instrument.id,
            client_order_id=ClientOrderId(clid))
        fill = fill_of(msg, instrument)
        self.counters["external_fills"] += 1
        self._log.warning("%s: fill %s of an order the node does not know (ClOrdID %s, "
                          "OrderID %s): %s %s @ %s, handed to the engine to adopt",
                          self.name, msg[17], clid, msg[37], msg[54], fill.last_qty,
                          fill.last_px)
        self.generate_order_filled(
            foreign, venue_order_id=VenueOrderId(msg[37]), trade_id=TradeId(msg[17]),
            order_side=SIDE_IN[msg[54]],
            order_type=TYPE_IN.get(msg.get(40) or "1", OrderType.MARKET),
            last_qty=fill.last_qty, last_px=fill.last_px, commission=fill.commission,
            liquidity_side=fill.liquidity_side, ts_event=self._ts_event(msg))

    def _apply_report(self, order: Order, exec_type: str, msg: FixMessage, clid: str) -> None:
        init = order.init_event
        venue_order_id = VenueOrderId(msg[37])
        ts_event = self._ts_event(msg)
        # An order the node rejected itself (a timeout) is still the venue's to decide:
        # its acknowledgement reopens it (`Order.rejected_locally`).
        unacknowledged = order.status is OrderStatus.SUBMITTED or order.rejected_locally
        if exec_type in ("0", "F", "1", "2", "5", "D", "4", "C") and msg[37] != "NONE" \
                and unacknowledged:
            self.generate_order_accepted(init, venue_order_id, ts_event)
        if exec_type == "0":
            return
        if exec_type in ("F", "1", "2"):
            fill = fill_of(msg, self._instrument(order.instrument_id))
            self.generate_order_filled(
                init, venue_order_id=venue_order_id, trade_id=TradeId(msg[17]),
                order_side=order.side, order_type=order.order_type, last_qty=fill.last_qty,
                last_px=fill.last_px, commission=fill.commission,
                liquidity_side=fill.liquidity_side, ts_event=ts_event)
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
                self.generate_order_modify_rejected(order.init_event, reason,
                                                    self._ts_event(msg))
            else:
                self.generate_order_cancel_rejected(order.init_event, reason,
                                                    self._ts_event(msg))
        finally:
            self._answered(clid)

    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        instrument = self._cache.instrument(instrument_id)
        if instrument is None:
            raise FixDecodeError(f"unknown instrument {instrument_id}", tag=55, reason=5)
        return instrument

    # -- the venue refused a message of ours, or sent one we could not read ----------------

    def _on_session_reject(self, msg: FixMessage) -> None:
        """A Reject (35=3): the message its RefSeqNum names fails now, with its Text."""
        sent = self._sent.get(msg.get_int(45) or 0)
        if sent is None:
            return  # an admin message, or one sent too long ago
        msg_type, ref = sent
        self.counters["session_rejects"] += 1
        reason = (f"FIX session reject of {msg_type} {ref}: {msg.get(58) or 'no text'} "
                  f"(SessionRejectReason {msg.get(373)}, RefTagID {msg.get(371)})")
        if msg_type == "AF":
            self._requests.fail_mass(ref, reason)
        elif msg_type == "H":
            self._requests.fail_status(ref, reason)
        elif msg_type == "AN":
            self._positions.fail_all(reason)
        elif msg_type in ("D", "F", "G"):
            self._reject_command(msg_type, ref, reason)

    def _reject_command(self, msg_type: str, clid: str, reason: str) -> None:
        order = self._cache.order(ClientOrderId(base_cl_ord_id(clid)))
        try:
            if order is None:
                return
            now = self._clock.timestamp_ns()
            if msg_type == "D":
                if order.status in (OrderStatus.INITIALIZED, OrderStatus.SUBMITTED):
                    self.generate_order_rejected(order.init_event, reason, now)
            elif msg_type == "G":
                self.generate_order_modify_rejected(order.init_event, reason, now)
            else:
                self.generate_order_cancel_rejected(order.init_event, reason, now)
        finally:
            self._answered(clid)  # answered: the command's wait ends without a timeout

    def _on_invalid(self, exc: FixDecodeError, raw: bytes) -> None:
        """An incoming message the session rejected as invalid: if it answers a request
        of ours, that request fails now (it would otherwise wait for its timeout)."""
        self._requests.on_invalid(exc, peek_fields(raw))

    # -- a cancel or modify without an answer ------------------------------------------------

    def _timed_out(self, command: ExecCommand, exc: BaseException) -> None:
        """No answer to a cancel or modify within ``command_timeout``: its outcome is
        unknown (the venue may have done it and its confirmation be late or lost), so
        it is not reported rejected; the venue is asked about the order, and its answer
        decides (a submit keeps the base class's rejection: the engine's stalled-order
        check and reconciliation take it from there)."""
        if not isinstance(command, CancelOrder | ModifyOrder):
            super()._timed_out(command, exc)
            return
        self.counters["unanswered_amends"] += 1
        what = "cancel" if isinstance(command, CancelOrder) else "modify"
        order = self._cache.order(command.client_order_id)
        if order is None or order.is_closed:
            self._log.info("%s: no answer to the %s of %s within %gs; the order is %s",
                           self.name, what, command.client_order_id, self.command_timeout,
                           "unknown" if order is None else order.status.value)
            return
        self._log.warning("%s: no answer to the %s of %s within %gs: outcome unknown, "
                          "asking the venue", self.name, what, command.client_order_id,
                          self.command_timeout)
        task = self._loop.create_task(self._settle_amend(command))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle_amend(self, command: CancelOrder | ModifyOrder) -> None:
        coid = command.client_order_id
        what = "cancel" if isinstance(command, CancelOrder) else "modify"
        try:
            reports = await self.generate_order_status_reports_for([coid])
        except Exception as exc:  # noqa: BLE001 - logged; the venue's next report decides
            self._log.error("%s: asking the venue about %s after an unanswered %s failed: "
                            "%s; its next report decides", self.name, coid, what, exc)
            return
        if not reports:
            return  # the venue does not know it: reconciliation closes it
        report = reports[0]
        # The engine brings the order to the venue's state (canceled, updated, filled).
        self._handle_event(report)
        order = self._cache.order(coid)
        if order is None or order.is_closed or report.order_status not in OPEN_STATUSES:
            return
        if isinstance(command, CancelOrder):
            self.generate_order_cancel_rejected(
                command, f"{COMMAND_TIMEOUT}: {self.name}: no answer to the cancel within "
                f"{self.command_timeout:g}s and the venue reports the order open "
                f"({report.order_status.value})")
        elif (command.quantity is not None and report.quantity != command.quantity) or (
                command.price is not None and report.price != command.price) or (
                command.trigger_price is not None
                and report.trigger_price != command.trigger_price):
            self.generate_order_modify_rejected(
                command, f"{COMMAND_TIMEOUT}: {self.name}: no answer to the modify within "
                f"{self.command_timeout:g}s and the venue reports the order unchanged")

    # -- reconciliation --------------------------------------------------------------------

    async def mass_status(self) -> list[FixMessage]:
        """Every order the venue reports (OrderMassStatusRequest, all orders).

        Raises:
            FixRequestError: no complete answer within ``request_timeout``, or the
                venue's answer was rejected (invalid FIX, or a Reject of the request).
        """
        self._req += 1
        return await self._requests.mass_status(f"MS-{self._clock.timestamp_ns()}-{self._req}")

    async def generate_order_status_reports(self) -> list[OrderStatusReport]:
        """The orders the venue reports in its answer to an OrderMassStatusRequest:
        every open one, and the closed ones it still keeps (what a node without a
        database recovers its filled orders from; see `Reconciler.reconcile_venue`)."""
        out = []
        for msg in await self.mass_status():
            report = self._status_report(msg)
            if report is not None:
                out.append(report)
        return out

    async def generate_order_status_reports_for(
        self, client_order_ids: list[ClientOrderId]
    ) -> list[OrderStatusReport]:
        """Each order's state at the venue, from an OrderStatusRequest per order.

        Raises:
            FixRequestError: an order's answer did not come within ``request_timeout``
                or was rejected.
        """
        out = []
        for coid in client_order_ids:
            order = self._cache.order(coid)
            if order is None:
                continue
            fields = [(11, self._current.get(coid, str(coid)))]
            if order.venue_order_id is not None:
                fields.append((37, str(order.venue_order_id)))
            fields += [(55, order.instrument_id.symbol.value), (54, SIDE[order.side])]
            msg = await self._requests.order_status(str(coid), fields)
            report = self._status_report(msg)
            if report is not None:
                out.append(report)
        return out

    def audit_scope(self) -> frozenset[str]:
        """Open orders (OrderMassStatusRequest) and, where the peer answers
        RequestForPositions, positions. FIX 4.4 has no balance or fill history query."""
        return frozenset({"orders", "positions"} if self._config.request_positions
                         else {"orders"})

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
        if clid:
            self._current[ClientOrderId(base_cl_ord_id(clid))] = clid
        return status_report(msg, instrument_id, instrument, self.events,
                             self._clock.timestamp_ns())


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
