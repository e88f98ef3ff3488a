"""Positions over FIX 4.4: RequestForPositions (35=AN) and its answers.

For a peer that supports it (``request_positions = true`` in the client's config), the
client's position status reports come from one RequestForPositions with PosReqType 0
(positions), Account and AccountType 1, answered by a RequestForPositionsAck (35=AO:
PosReqResult, TotalNumPosReports) and that many PositionReports (35=AP), each naming
its PosReqID, the Symbol and a PositionQty group (NoPositions 702: PosType 703,
LongQty 704, ShortQty 705). The net of an instrument is LongQty - ShortQty of its
``TQ`` (transaction quantity) entry, else of its first entry.

PosReqResult 2 (no positions found) is an empty answer; any other result but 0 fails
the request with the peer's Text. A venue that answers reports every position it holds:
an instrument the node holds open and the venue does not name is reported FLAT, so the
reconciliation compares it too.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from livenode.adapters.fix.codec import FixDecodeError, FixMessage
from livenode.model.enums import PositionSide
from livenode.model.identifiers import InstrumentId

if TYPE_CHECKING:
    from livenode.cache.cache import Cache
    from livenode.engines.exec_events import ExecEventBuilder
    from livenode.model.identifiers import Venue
    from livenode.model.reports import PositionStatusReport

__all__ = ["POSITION_MSG_TYPES", "PositionRequests", "net_quantity"]

#: The answers to a RequestForPositions (RequestForPositionsAck, PositionReport).
POSITION_MSG_TYPES = frozenset({"AO", "AP"})
_POS_REQ_RESULT = {"1": "invalid or unsupported request", "2": "no positions found",
                   "3": "not authorized", "4": "request for positions not supported",
                   "99": "other"}


def net_quantity(report: FixMessage) -> Decimal:
    """LongQty - ShortQty of a PositionReport's ``TQ`` entry (else its first entry).

    Raises:
        FixDecodeError: no PositionQty entry, or a quantity that is not a number.
    """
    entries = report.group(702, [703, 704, 705, 706])
    if not entries:
        raise FixDecodeError("PositionReport without a PositionQty entry", tag=702,
                             reason=1, msg_type="AP", seq_num=report.get_int(34))
    entry = next((e for e in entries if e.get(703) == "TQ"), entries[0])
    try:
        return Decimal(entry.get(704) or "0") - Decimal(entry.get(705) or "0")
    except InvalidOperation as exc:
        raise FixDecodeError(f"PositionReport quantity not a number: {entry}", tag=704,
                             reason=6, msg_type="AP", seq_num=report.get_int(34)) from exc


@dataclass
class _Pending:
    done: asyncio.Future[None]
    reports: list[FixMessage] = field(default_factory=list)
    total: int | None = None


class PositionRequests:
    """The open RequestForPositions of one client and the reports that answer them.

    Args:
        send: the session's `send` (raises when not logged on).
        account: the FIX Account (1) the positions are asked for.
        loop: the client's event loop.
    """

    def __init__(self, send: Callable[[str, list[tuple[int, str]]], int], account: str,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._send = send
        self._account = account
        self._loop = loop
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}

    async def request(self, timeout: float) -> list[FixMessage]:
        """Send one RequestForPositions; the PositionReports that answer it.

        Raises:
            TimeoutError: no complete answer within `timeout` seconds.
            RuntimeError: the peer refused the request (its PosReqResult and Text).
        """
        now = datetime.now(UTC)
        req_id = f"POS-{now.strftime('%Y%m%d%H%M%S%f')}-{next(self._ids)}"
        pending = _Pending(self._loop.create_future())
        self._pending[req_id] = pending
        try:
            self._send("AN", [
                (710, req_id), (724, "0"), (1, self._account), (581, "1"),
                (715, now.strftime("%Y%m%d")), (60, now.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]),
            ])
            await asyncio.wait_for(pending.done, timeout)
        finally:
            self._pending.pop(req_id, None)
        return pending.reports

    def on_message(self, msg: FixMessage) -> None:
        """An AO or AP from the session: file it under its request."""
        pending = self._pending.get(msg.get(710) or "")
        if pending is None or pending.done.done():
            return  # unsolicited, or the answer to a request that timed out
        if msg.msg_type == "AO":
            result = msg.get(728) or "0"
            if result == "2":
                pending.total = 0
            elif result != "0":
                reason = _POS_REQ_RESULT.get(result, f"PosReqResult {result}")
                pending.done.set_exception(RuntimeError(
                    f"RequestForPositions refused: {reason}: {msg.get(58) or ''}".rstrip(": ")))
                return
            else:
                pending.total = msg.get_int(727)
        else:
            pending.reports.append(msg)
            if pending.total is None:
                pending.total = msg.get_int(727)
        if pending.total is not None and len(pending.reports) >= pending.total:
            pending.done.set_result(None)

    def fail_all(self, reason: str) -> None:
        """The peer refused RequestForPositions as a message (BusinessMessageReject with
        RefMsgType AN): every open request fails with `reason`."""
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(RuntimeError(reason))

    def to_reports(self, messages: list[FixMessage], *, venue: Venue, cache: Cache,
                   events: ExecEventBuilder, now: int) -> list[PositionStatusReport]:
        """The node's reports of the venue's answer (unknown symbols are skipped), plus
        FLAT for every instrument of `venue` the cache holds open that it did not name."""
        out: list[PositionStatusReport] = []
        named: set[InstrumentId] = set()
        for msg in messages:
            instrument_id = InstrumentId.from_str(f"{msg[55]}.{venue}")
            instrument = cache.instrument(instrument_id)
            if instrument is None:
                continue
            named.add(instrument_id)
            net = net_quantity(msg)
            side = (PositionSide.LONG if net > 0 else PositionSide.SHORT if net < 0
                    else PositionSide.FLAT)
            out.append(events.position_status_report(
                now, instrument_id=instrument_id, position_side=side,
                quantity=instrument.make_qty(abs(net)), ts_last=now))
        for position in cache.positions_open(venue=venue):
            iid = position.instrument_id
            if iid not in named:
                named.add(iid)
                instrument = cache.instrument(iid)
                if instrument is not None:
                    out.append(events.position_status_report(
                        now, instrument_id=iid, position_side=PositionSide.FLAT,
                        quantity=instrument.make_qty(0), ts_last=now))
        return out
