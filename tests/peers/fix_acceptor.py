"""A real FIX 4.4 peer: a QuickFIX acceptor running an order-matching application.

Run as its own process (the end-to-end tests and ``scripts/fix-sandbox`` do)::

    python tests/peers/fix_acceptor.py --port 9876 --dir /tmp/acc --price 100.00 \
        [--sender-comp-id VENUE] [--target-comp-id NODE] [--liquidity 0.004] \
        [--symbols BTCUSDT,ETHUSDT] [--username U --password P] [--reset-on-logon] \
        [--no-positions]

It prints ``fix acceptor ready on 127.0.0.1:<port>`` on stdout once it listens. QuickFIX
(the ``quickfix`` package, a C++ engine) runs the session with the FIX44 data dictionary
and validation on; this module only decides what an order does:

- NewOrderSingle: an unknown symbol, a non-positive quantity, a duplicate ClOrdID or a
  post-only (ExecInst 6) order that would take is rejected (ExecType 8). Otherwise New,
  then matching against the one configured price: market orders, and limit orders at
  or through the price, trade at the price in chunks of at most ``--liquidity`` (all
  chunks at once for a market order, one for a limit order, whose rest then rests,
  partially filled); stop and stop-limit orders trigger on arrival when the price is at
  or through the stop, else rest. IOC cancels what did not trade at once, FOK cancels
  unless it trades in full at once.
- OrderCancelRequest / OrderCancelReplaceRequest: Canceled / Replaced (then matched
  again), or OrderCancelReject (unknown order, too late, quantity below filled).
- OrderStatusRequest: one ExecType I report (OrdStatus 8 for an unknown order).
- OrderMassStatusRequest: one ExecType I report per order it knows, with MassStatusReqID,
  TotNumReports and LastRptRequested=Y on the last; when it knows none, one report with
  TotNumReports=0, OrderID NONE (the dictionary requires an order in every report).
- RequestForPositions (PosReqType 0): a RequestForPositionsAck (PosReqResult 0 and
  TotalNumPosReports, or 2 "no positions found" before any fill), then one PositionReport
  per symbol it has filled, its net from ``fills.jsonl`` (PositionQty: PosType TQ, LongQty
  or ShortQty). Another PosReqType: the ack with PosReqResult 4. With ``--no-positions``
  the message is unsupported (QuickFIX answers BusinessMessageReject).

It records every fill as a JSON line in ``<dir>/fills.jsonl`` and keeps its order book in
``<dir>/orders.json`` (so a restarted acceptor knows the orders it had); QuickFIX keeps
the session's sequence numbers and messages in ``<dir>/store``.

SIGUSR1 makes it skip 3 outgoing sequence numbers (the node then sees a gap on the next
message and must ask for a resend); SIGTERM or SIGINT stop it (exit 0).

Misbehaving on command. A test drops a JSON file ``{"id": N, "name": ..., "args": {...}}``
into ``<dir>/control/`` (written to a temporary name, then renamed: the acceptor never
reads half a file); the acceptor polls that directory every 20 ms, runs the command and
prints ``fix acceptor: command N NAME done`` (or ``failed: ...``), which the harness
(`tests.peers.harness.AcceptorProcess.command`) waits for. A command either acts at
once or arms a fault for the next message it concerns:

=====================  ===============================================================
command (args)         what the acceptor does
=====================  ===============================================================
fill_unknown           an unsolicited ExecutionReport fill (ExecType F, OrdStatus 2) of
(symbol, side, qty)    an order it never received (ClOrdID ``FOREIGN-n``, OrderID
                       ``X-n``), at its price; booked in orders.json and fills.jsonl
reject_next_order      the next NewOrderSingle is answered with a session-level Reject
(text)                 (35=3, RefSeqNum = its MsgSeqNum, RefTagID 55, RefMsgType D,
                       SessionRejectReason 5, Text = ``text``) and not booked
empty_mass_status      the next OrderMassStatusRequest is answered with one report
                       whose Symbol (55) and Side (54) are present but empty
drop_cancel_ack        the next cancel is done in the book but its confirmation
                       (ExecType 4) is withheld: it is sent after the answer to the next
                       OrderStatusRequest for that order, or on ``release``
delay_ack (seconds)    the reports of the next NewOrderSingle (New, fills) are withheld
                       and sent ``seconds`` later
silent (seconds)       the next message QuickFIX hands it (a Heartbeat, an order, ...)
                       blocks QuickFIX's thread for ``seconds``: no heartbeats, no
                       answers, nothing read (the node's TestRequest goes unanswered)
duplicate (poss_dup)   the next ExecutionReport is sent twice (the copy under a new
                       MsgSeqNum, with PossDupFlag=Y and OrigSendingTime when
                       ``poss_dup``)
release                sends every withheld message now
=====================  ===============================================================
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import quickfix as fix  # type: ignore[import-not-found]

READY = "fix acceptor ready on"


@dataclass
class Order:
    """An order as the acceptor keeps it."""

    order_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str
    ord_type: str
    qty: str
    price: str | None
    stop_px: str | None
    tif: str
    exec_inst: str
    cum_qty: str = "0"
    avg_px: str = "0"
    status: str = "0"
    triggered: bool = False

    @property
    def leaves(self) -> Decimal:
        if self.status in ("2", "4", "8", "C"):
            return Decimal(0)
        return Decimal(self.qty) - Decimal(self.cum_qty)

    @property
    def closed(self) -> bool:
        return self.status in ("2", "4", "8", "C")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


class Matcher(fix.Application):  # type: ignore[misc]
    """The order-matching application QuickFIX calls."""

    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        super().__init__()
        self.args = args
        self.price = Decimal(args.price)
        self.liquidity = Decimal(args.liquidity) if args.liquidity else None
        self.symbols = set(args.symbols.split(","))
        self.lock = threading.RLock()
        self.state_path = directory / "orders.json"
        self.fills_path = directory / "fills.jsonl"
        self.orders: dict[str, Order] = {}  # by OrderID
        self.by_clid: dict[str, str] = {}  # every ClOrdID ever used -> OrderID
        self.seq = 0
        self.session_id: Any = None
        # Faults armed by commands (see the module docstring); all under `lock`.
        self.reject_next: str | None = None
        self.empty_mass = False
        self.drop_cancel = False
        self.delay_next: float | None = None
        self.silent_for: float | None = None
        self.duplicate_next: bool | None = None
        self.poss_dup_next = False
        self.holding = False  # `_send` appends to `withheld` instead of sending
        self.withheld: list[tuple[str, list[tuple[int, str]]]] = []
        self.withheld_for: str | None = None  # the OrderID whose status releases them
        if self.state_path.exists():
            state = json.loads(self.state_path.read_text())
            self.seq = state["seq"]
            self.by_clid = state["by_clid"]
            self.orders = {o["order_id"]: Order(**o) for o in state["orders"]}

    # -- QuickFIX callbacks (its camelCase names) ------------------------------------

    def onCreate(self, session_id: Any) -> None:
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:
        self.session_id = session_id
        print(f"fix acceptor: logon {session_id}", flush=True)

    def onLogout(self, session_id: Any) -> None:
        print(f"fix acceptor: logout {session_id}", flush=True)

    def toAdmin(self, message: Any, session_id: Any) -> None:
        return None

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        self._maybe_go_silent()
        msg_type = message.getHeader().getField(35)
        if msg_type == "A" and self.args.username:
            user = message.getField(553) if message.isSetField(553) else ""
            password = message.getField(554) if message.isSetField(554) else ""
            if user != self.args.username or password != self.args.password:
                raise fix.RejectLogon("bad username or password")

    def toApp(self, message: Any, session_id: Any) -> None:
        # QuickFIX's send() strips PossDupFlag and OrigSendingTime from an application
        # message; a duplicate that claims to be one gets them here, after that.
        if self.poss_dup_next:
            self.poss_dup_next = False
            message.getHeader().setField(fix.StringField(43, "Y"))
            message.getHeader().setField(fix.StringField(122, _now()))

    def fromApp(self, message: Any, session_id: Any) -> None:
        self._maybe_go_silent()
        msg_type = message.getHeader().getField(35)
        if msg_type == "D" and self.reject_next is not None:
            with self.lock:
                text, self.reject_next = self.reject_next, None
                self._send("3", [(45, message.getHeader().getField(34)), (371, "55"),
                                 (372, "D"), (373, "5"), (58, text)])
            return
        handler = {
            "D": self.on_new_order, "F": self.on_cancel, "G": self.on_replace,
            "H": self.on_status, "AF": self.on_mass_status, "AN": self.on_positions,
        }.get(msg_type)
        if msg_type == "AN" and self.args.no_positions:
            handler = None
        if handler is None:
            raise fix.UnsupportedMessageType()
        with self.lock:
            handler(message)
            self._save()

    # -- application ---------------------------------------------------------------------

    def on_new_order(self, m: Any) -> None:
        cl = m.getField(11)
        order = Order(
            order_id="", cl_ord_id=cl, orig_cl_ord_id="", symbol=m.getField(55),
            side=m.getField(54), ord_type=m.getField(40), qty=m.getField(38),
            price=_opt(m, 44), stop_px=_opt(m, 99), tif=_opt(m, 59) or "0",
            exec_inst=_opt(m, 18) or "",
        )
        reason = None
        if order.symbol not in self.symbols:
            reason = f"unknown symbol {order.symbol}"
        elif Decimal(order.qty) <= 0:
            reason = f"quantity {order.qty} must be positive"
        elif cl in self.by_clid:
            reason = f"duplicate ClOrdID {cl}"
        elif "6" in order.exec_inst.split() and self._marketable(order):
            reason = "post-only order would take liquidity"
        self.seq += 1
        order.order_id = f"Q-{self.seq}"
        if reason is not None:
            order.status = "8"
            self._report(order, "8", text=reason)
            return
        self.orders[order.order_id] = order
        self.by_clid[cl] = order.order_id
        delay, self.delay_next = self.delay_next, None
        self.holding = delay is not None
        try:
            self._report(order, "0")
            self._match(order, arriving=True)
        finally:
            self.holding = False
        if delay is not None:
            print(f"fix acceptor: holding the reports of {cl} for {delay}s", flush=True)
            timer = threading.Timer(delay, self.release)
            timer.daemon = True
            timer.start()

    def on_cancel(self, m: Any) -> None:
        orig, cl = m.getField(41), m.getField(11)
        order = self._find(orig)
        if order is None or order.closed:
            self._cancel_reject(m, order, "1", "unknown order" if order is None else
                                "too late to cancel: order is closed", "1" if order is None
                                else "0")
            return
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, cl
        self.by_clid[cl] = order.order_id
        order.status = "4"
        drop, self.drop_cancel = self.drop_cancel, False
        self.holding = drop
        try:
            self._report(order, "4")
        finally:
            self.holding = False
        if drop:
            self.withheld_for = order.order_id
            print(f"fix acceptor: withholding the cancel confirmation of {cl}", flush=True)

    def on_replace(self, m: Any) -> None:
        orig, cl = m.getField(41), m.getField(11)
        order = self._find(orig)
        if order is None or order.closed:
            self._cancel_reject(m, order, "2", "unknown order" if order is None else
                                "too late to replace: order is closed", "1" if order is None
                                else "0")
            return
        qty = Decimal(m.getField(38))
        if qty <= Decimal(order.cum_qty):
            self._cancel_reject(m, order, "2", f"quantity {qty} not above filled "
                                f"{order.cum_qty}", "99")
            return
        order.orig_cl_ord_id, order.cl_ord_id = order.cl_ord_id, cl
        self.by_clid[cl] = order.order_id
        order.qty = _fmt(qty)
        order.price = _opt(m, 44) or order.price
        order.stop_px = _opt(m, 99) or order.stop_px
        self._report(order, "5")
        self._match(order, arriving=False)

    def on_status(self, m: Any) -> None:
        order = self._find(m.getField(11))
        if order is None:
            ghost = Order(order_id="NONE", cl_ord_id=m.getField(11), orig_cl_ord_id="",
                          symbol=m.getField(55), side=m.getField(54), ord_type="2", qty="0",
                          price=None, stop_px=None, tif="1", exec_inst="", status="8")
            self._report(ghost, "I", text="unknown order")
            return
        self._report(order, "I")
        if self.withheld_for == order.order_id:
            # The lost confirmation turns up late, after the venue told the state.
            self.release()

    def on_mass_status(self, m: Any) -> None:
        req_id = m.getField(584)
        orders = list(self.orders.values())
        if self.empty_mass:
            self.empty_mass = False
            self._send("8", [(37, "NONE"), (11, "NONE"), (17, f"E-{self.seq}"), (150, "I"),
                             (39, "8"), (55, ""), (54, ""), (151, "0"), (14, "0"), (6, "0"),
                             (60, _now()), (584, req_id), (911, "0"), (912, "Y")])
            return
        if not orders:
            none = Order(order_id="NONE", cl_ord_id="NONE", orig_cl_ord_id="", symbol="NONE",
                         side="1", ord_type="2", qty="0", price=None, stop_px=None, tif="1",
                         exec_inst="", status="8")
            self._report(none, "I", extra=[(584, req_id), (911, "0"), (912, "Y")])
            return
        for i, order in enumerate(orders):
            last = "Y" if i == len(orders) - 1 else "N"
            self._report(order, "I", extra=[(584, req_id), (911, str(len(orders))), (912, last)])

    def net_positions(self) -> dict[str, Decimal]:
        """Symbol -> net quantity of every fill recorded (buys minus sells)."""
        net: dict[str, Decimal] = {}
        if self.fills_path.exists():
            for line in self.fills_path.read_text().splitlines():
                fill = json.loads(line)
                qty = Decimal(fill["last_qty"])
                net[fill["symbol"]] = net.get(fill["symbol"], Decimal(0)) + (
                    qty if fill["side"] == "BUY" else -qty)
        return net

    def on_positions(self, m: Any) -> None:
        req_id = m.getField(710)
        self.seq += 1
        head = [(721, f"P-{self.seq}"), (710, req_id)]
        account = [(1, m.getField(1)), (581, m.getField(581))]
        if m.getField(724) != "0":
            self._send("AO", [*head, (728, "4"), (729, "2"), *account,
                              (58, f"PosReqType {m.getField(724)} not supported")])
            return
        net = self.net_positions()
        if not net:
            self._send("AO", [*head, (727, "0"), (728, "2"), (729, "0"), *account])
            return
        self._send("AO", [*head, (727, str(len(net))), (728, "0"), (729, "0"), *account])
        day = datetime.now(UTC).strftime("%Y%m%d")
        for symbol, qty in sorted(net.items()):
            self.seq += 1
            self._send("AP", [
                (721, f"P-{self.seq}"), (710, req_id), (724, "0"), (727, str(len(net))),
                (728, "0"), (715, day), *account, (55, symbol), (730, _fmt(self.price)),
                (731, "1"), (734, _fmt(self.price)), (702, "1"), (703, "TQ"),
                (704, _fmt(max(qty, Decimal(0)))), (705, _fmt(max(-qty, Decimal(0)))),
            ])

    # -- matching --------------------------------------------------------------------------

    def _marketable(self, order: Order) -> bool:
        buy = order.side == "1"
        if order.ord_type in ("3", "4") and not order.triggered:
            stop = Decimal(order.stop_px or "0")
            if not (self.price >= stop if buy else self.price <= stop):
                return False
            if order.ord_type == "3":
                return True
        if order.ord_type in ("1", "3"):
            return True
        limit = Decimal(order.price or "0")
        return self.price <= limit if buy else self.price >= limit

    def _match(self, order: Order, *, arriving: bool) -> None:
        marketable = self._marketable(order)
        if order.ord_type in ("3", "4") and marketable:
            order.triggered = True
        if marketable:
            chunk = order.leaves if self.liquidity is None else min(self.liquidity, order.leaves)
            if order.tif == "4" and chunk < order.leaves:
                order.status = "4"
                self._report(order, "4", text="FOK: not enough liquidity to fill in full")
                return
            self._fill(order, chunk)
            if order.ord_type in ("1", "3"):
                while order.leaves > 0:
                    self._fill(order, min(self.liquidity or order.leaves, order.leaves))
        if order.tif == "3" and order.leaves > 0:
            order.status = "4"
            self._report(order, "4", text="IOC: remainder canceled")

    def _fill(self, order: Order, qty: Decimal) -> None:
        cum = Decimal(order.cum_qty)
        avg = Decimal(order.avg_px)
        new_cum = cum + qty
        order.avg_px = _fmt((avg * cum + self.price * qty) / new_cum)
        order.cum_qty = _fmt(new_cum)
        order.status = "2" if new_cum >= Decimal(order.qty) else "1"
        exec_id = self._report(order, "F", last=(qty, self.price))
        with self.fills_path.open("a") as f:
            f.write(json.dumps({
                "exec_id": exec_id, "order_id": order.order_id, "cl_ord_id": order.cl_ord_id,
                "symbol": order.symbol, "side": "BUY" if order.side == "1" else "SELL",
                "last_qty": _fmt(qty), "last_px": _fmt(self.price),
            }) + "\n")

    # -- messages ------------------------------------------------------------------------

    def _find(self, cl_ord_id: str) -> Order | None:
        order_id = self.by_clid.get(cl_ord_id)
        return None if order_id is None else self.orders.get(order_id)

    def _report(self, order: Order, exec_type: str, *, text: str | None = None,
                last: tuple[Decimal, Decimal] | None = None,
                extra: list[tuple[int, str]] | None = None) -> str:
        self.seq += 1
        exec_id = f"E-{self.seq}"
        fields: list[tuple[int, str]] = [
            (37, order.order_id), (11, order.cl_ord_id), (17, exec_id), (150, exec_type),
            (39, order.status), (55, order.symbol), (54, order.side), (40, order.ord_type),
            (38, order.qty), (59, order.tif), (151, _fmt(order.leaves)),
            (14, order.cum_qty), (6, order.avg_px), (60, _now()),
        ]
        if order.orig_cl_ord_id and exec_type in ("4", "5"):
            fields.append((41, order.orig_cl_ord_id))
        if order.price is not None:
            fields.append((44, order.price))
        if order.stop_px is not None:
            fields.append((99, order.stop_px))
        if order.exec_inst:
            fields.append((18, order.exec_inst))
        if last is not None:
            fields += [(32, _fmt(last[0])), (31, _fmt(last[1])), (851, "2")]
        if text:
            fields.append((58, text))
        if exec_type == "8":
            fields.append((103, "99"))
        fields += extra or []
        self._send("8", fields)
        return exec_id

    def _cancel_reject(self, m: Any, order: Order | None, response_to: str, text: str,
                       reason: str) -> None:
        fields = [
            (37, order.order_id if order else "NONE"), (11, m.getField(11)),
            (41, m.getField(41)), (39, order.status if order else "8"),
            (434, response_to), (102, reason), (58, text), (60, _now()),
        ]
        self._send("9", fields)

    def _send(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        if self.holding:
            self.withheld.append((msg_type, fields))
            return
        copies = 1
        if msg_type == "8" and self.duplicate_next is not None:
            copies = 2
        self._send_now(msg_type, fields)
        if copies == 2:
            self.poss_dup_next, self.duplicate_next = bool(self.duplicate_next), None
            print(f"fix acceptor: sent a report twice (PossDup {self.poss_dup_next})",
                  flush=True)
            self._send_now(msg_type, fields)
            self.poss_dup_next = False

    def _send_now(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        msg = fix.Message()
        msg.getHeader().setField(fix.MsgType(msg_type))
        for tag, value in fields:
            msg.setField(fix.StringField(tag, value))
        fix.Session.sendToTarget(msg, self.session_id)

    def _save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({
            "seq": self.seq, "by_clid": self.by_clid,
            "orders": [asdict(o) for o in self.orders.values()],
        }))
        os.replace(tmp, self.state_path)

    # -- faults on command (see the module docstring) ----------------------------------------

    def command(self, name: str, args: dict[str, Any]) -> None:
        """Run or arm the fault `name` (the main thread calls it for a control file)."""
        with self.lock:
            if name == "fill_unknown":
                self.fill_unknown(args["symbol"], args.get("side", "BUY"), args["qty"])
            elif name == "reject_next_order":
                self.reject_next = args.get("text", "trading halted by the venue")
            elif name == "empty_mass_status":
                self.empty_mass = True
            elif name == "drop_cancel_ack":
                self.drop_cancel = True
            elif name == "delay_ack":
                self.delay_next = float(args["seconds"])
            elif name == "silent":
                self.silent_for = float(args["seconds"])
            elif name == "duplicate":
                self.duplicate_next = bool(args.get("poss_dup", False))
            elif name == "release":
                self.release()
            else:
                raise ValueError(f"unknown command {name!r}")
            self._save()

    def fill_unknown(self, symbol: str, side: str, qty: str) -> None:
        """Fill an order nobody sent: another session on the account traded."""
        self.seq += 1
        order = Order(
            order_id=f"X-{self.seq}", cl_ord_id=f"FOREIGN-{self.seq}", orig_cl_ord_id="",
            symbol=symbol, side="1" if side == "BUY" else "2", ord_type="1", qty=qty,
            price=None, stop_px=None, tif="3", exec_inst="",
        )
        self.orders[order.order_id] = order
        self.by_clid[order.cl_ord_id] = order.order_id
        self._fill(order, Decimal(qty))

    def release(self) -> None:
        """Send the withheld messages now."""
        with self.lock:
            held, self.withheld, self.withheld_for = self.withheld, [], None
            for msg_type, fields in held:
                self._send(msg_type, fields)
            if held:
                print(f"fix acceptor: released {len(held)} withheld message(s)", flush=True)

    def _maybe_go_silent(self) -> None:
        # Blocks QuickFIX's only thread (SocketAcceptor): nothing is read or sent,
        # heartbeats included, until it returns. Not under `lock`: commands still run.
        seconds, self.silent_for = self.silent_for, None
        if seconds is not None:
            print(f"fix acceptor: silent for {seconds}s", flush=True)
            time.sleep(seconds)
            print("fix acceptor: talking again", flush=True)

    def skip_outgoing(self, count: int) -> None:
        """Skip `count` outgoing sequence numbers (a gap the node must notice)."""
        session = fix.Session.lookupSession(self.session_id)
        if session is not None:
            session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + count)
            print(f"fix acceptor: skipped {count} outgoing sequence numbers", flush=True)


def _run_commands(app: Matcher, control: Path) -> None:
    """Run the command files in `control` (oldest id first), each once."""
    for path in sorted(control.glob("*.json"), key=lambda p: int(p.stem)):
        spec = json.loads(path.read_text())
        path.unlink()
        try:
            app.command(spec["name"], spec.get("args", {}))
        except Exception as exc:  # noqa: BLE001 - told to the test, which fails on it
            print(f"fix acceptor: command {spec['id']} {spec['name']} failed: {exc!r}",
                  flush=True)
        else:
            print(f"fix acceptor: command {spec['id']} {spec['name']} done", flush=True)


def _opt(m: Any, tag: int) -> str | None:
    return m.getField(tag) if m.isSetField(tag) else None


def data_dictionary() -> str:
    """The FIX44 data dictionary the quickfix package installs (share/quickfix)."""
    for base in (sys.prefix, sys.base_prefix, "/usr/local", "/usr"):
        path = Path(base) / "share" / "quickfix" / "FIX44.xml"
        if path.exists():
            return str(path)
    raise SystemExit("fix acceptor: FIX44.xml not found under share/quickfix")


def main(argv: list[str] | None = None) -> int:
    """Run the acceptor until SIGTERM/SIGINT."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True, help="store, logs, order book, fills")
    p.add_argument("--sender-comp-id", default="VENUE")
    p.add_argument("--target-comp-id", default="NODE")
    p.add_argument("--price", default="100.00")
    p.add_argument("--liquidity", default="", help="max quantity per fill (default: all)")
    p.add_argument("--symbols", default="BTCUSDT")
    p.add_argument("--username", default="")
    p.add_argument("--password", default="")
    p.add_argument("--reset-on-logon", action="store_true")
    p.add_argument("--no-positions", action="store_true",
                   help="RequestForPositions unsupported (BusinessMessageReject)")
    args = p.parse_args(argv)
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    settings_path = directory / "acceptor.cfg"
    settings_path.write_text(f"""[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort={args.port}
SocketAcceptAddress={args.host}
SocketReuseAddress=Y
FileStorePath={directory / "store"}
FileLogPath={directory / "log"}
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=Y
DataDictionary={data_dictionary()}
ValidateUserDefinedFields=Y
ResetOnLogon={"Y" if args.reset_on_logon else "N"}
[SESSION]
BeginString=FIX.4.4
SenderCompID={args.sender_comp_id}
TargetCompID={args.target_comp_id}
""")
    settings = fix.SessionSettings(str(settings_path))
    app = Matcher(args, directory)
    acceptor = fix.SocketAcceptor(app, fix.FileStoreFactory(settings), settings,
                                  fix.FileLogFactory(settings))
    stop = threading.Event()
    acceptor.start()
    # After start: the handlers must be Python's (QuickFIX's start may install its own).
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: app.skip_outgoing(3))
    control = directory / "control"
    control.mkdir(exist_ok=True)
    print(f"{READY} {args.host}:{args.port} (pid {os.getpid()})", flush=True)
    while not stop.wait(0.02):
        _run_commands(app, control)
    # QuickFIX's Python binding (1.16.0) segfaults now and then in acceptor.stop(): its
    # engine thread calls back into Python (onLogout, toAdmin) while the main thread is
    # inside stop(). So: log the session out (a clean Logout for the node), wait for it,
    # and leave without stop(). Nothing is lost: QuickFIX's file store writes every
    # message and sequence number as it goes, and the order book is saved after every
    # message.
    session = fix.Session.lookupSession(app.session_id) if app.session_id else None
    if session is not None and session.isLoggedOn():
        session.logout("acceptor stopping")
        deadline = time.monotonic() + 3.0
        while session.isLoggedOn() and time.monotonic() < deadline:
            time.sleep(0.05)
    with app.lock:
        print("fix acceptor: stopped", flush=True)
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
