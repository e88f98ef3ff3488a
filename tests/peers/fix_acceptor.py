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
        msg_type = message.getHeader().getField(35)
        if msg_type == "A" and self.args.username:
            user = message.getField(553) if message.isSetField(553) else ""
            password = message.getField(554) if message.isSetField(554) else ""
            if user != self.args.username or password != self.args.password:
                raise fix.RejectLogon("bad username or password")

    def toApp(self, message: Any, session_id: Any) -> None:
        return None

    def fromApp(self, message: Any, session_id: Any) -> None:
        msg_type = message.getHeader().getField(35)
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
        self._report(order, "0")
        self._match(order, arriving=True)

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
        self._report(order, "4")

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

    def on_mass_status(self, m: Any) -> None:
        req_id = m.getField(584)
        orders = list(self.orders.values())
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

    def skip_outgoing(self, count: int) -> None:
        """Skip `count` outgoing sequence numbers (a gap the node must notice)."""
        session = fix.Session.lookupSession(self.session_id)
        if session is not None:
            session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + count)
            print(f"fix acceptor: skipped {count} outgoing sequence numbers", flush=True)


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
    print(f"{READY} {args.host}:{args.port} (pid {os.getpid()})", flush=True)
    while not stop.wait(0.2):
        pass
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
