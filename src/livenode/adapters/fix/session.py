"""FIX 4.4 session layer: an initiator on asyncio streams (the node's event loop).

`FixSession` keeps one session to an acceptor up: connect (TLS optional), Logon
(HeartBtInt, ResetSeqNumFlag per config, Username/Password), Heartbeat and TestRequest
on the heartbeat interval, Logout, and reconnect with doubling back-off after any drop.
Application messages go to the owner's ``on_message``; it sends with `send`.

Sequence numbers are persisted by a `SeqNumStore` (`livenode.adapters.fix.seqnums`: the
node's cache database when it has one, else a file in the data directory) after every
message, and for an outgoing one before it is written to the socket.

Gaps, both directions:
- incoming MsgSeqNum above the expected one: the message is dropped and a
  ResendRequest (35=2, from the expected number to infinity) is sent once; the peer
  resends (PossDupFlag=Y) or gap-fills; `in_sync` is set again when caught up;
- incoming MsgSeqNum below the expected one: ignored with PossDupFlag=Y (a duplicate),
  else a fatal error (Logout naming both numbers, then reconnect);
- a ResendRequest from the peer: application messages still held (in memory, the last
  ``max_resend`` of this process) are sent again with PossDupFlag=Y and
  OrigSendingTime; everything else (admin messages, and what an earlier process sent)
  is covered by SequenceReset-GapFill (35=4, 123=Y). The node never re-sends an order it
  no longer holds; reconciliation settles those.

Malformed messages never raise out of the session: a garbled frame (bad BodyLength,
CheckSum or BeginString) is dropped and counted (FIX: garbled messages are ignored,
the sequence number is not consumed); a message that decodes but is invalid (a bad
field, a missing required tag, an unknown MsgType, or one the owner's handler refused
with `FixDecodeError`) is answered with Reject (35=3: RefSeqNum, RefTagID, RefMsgType,
SessionRejectReason, Text) and counted in ``counters``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from livenode.adapters.fix.codec import (
    FixDecodeError,
    FixFramer,
    FixFramingError,
    FixMessage,
    decode,
    encode,
)
from livenode.adapters.fix.seqnums import SeqNumStore

__all__ = ["APP_MSG_TYPES", "FixNotLoggedOn", "FixSession", "SessionSettings"]

#: Application messages the FIX execution client handles (others are rejected).
APP_MSG_TYPES = frozenset({"8", "9", "j", "AO", "AP"})
_ADMIN = frozenset({"0", "1", "2", "3", "4", "5", "A"})

Field = tuple[int, str]


class FixNotLoggedOn(ConnectionError):
    """`send` while the session is not logged on."""


def sending_time() -> str:
    """UTCTimestamp with milliseconds, as SendingTime (52) wants it."""
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


@dataclass(frozen=True)
class SessionSettings:
    """What a session needs (the client builds it from its config and environment)."""

    sender_comp_id: str
    target_comp_id: str
    host: str
    port: int
    heartbeat: int = 30
    reset_on_logon: bool = False
    tls: bool = False
    tls_ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    reconnect_initial: float = 0.5
    reconnect_max: float = 10.0
    max_resend: int = 10_000


class FixSession:
    """One initiator session, kept up until `stop` (see the module docstring).

    Args:
        settings: the session's settings.
        store: its persisted sequence numbers.
        on_message: called with every in-order application message (types in
            ``app_types``); raising `FixDecodeError` from it rejects the message, any
            other exception is logged and counted.
        on_logon / on_logout: called when the session logs on (after any resend has
            completed, see `wait_in_sync`) and when it drops (with the reason).
        on_reject: called with every session-level Reject (35=3) the peer sends (its
            RefSeqNum names the message of ours it refused).
        on_invalid: called with the error and the raw bytes of every incoming message
            the session answered with a Reject because it could not be decoded (the
            owner may be waiting for it, e.g. the answer to a status request).
    """

    def __init__(
        self,
        settings: SessionSettings,
        store: SeqNumStore,
        *,
        on_message: Callable[[FixMessage], None],
        on_logon: Callable[[], None] | None = None,
        on_logout: Callable[[str], None] | None = None,
        app_types: frozenset[str] = APP_MSG_TYPES,
        log: logging.Logger | None = None,
        on_reject: Callable[[FixMessage], None] | None = None,
        on_invalid: Callable[[FixDecodeError, bytes], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._on_message = on_message
        self._on_logon = on_logon
        self._on_logout = on_logout
        self._on_reject = on_reject
        self._on_invalid = on_invalid
        self._app_types = app_types
        self._log = log or logging.getLogger("livenode.adapters.fix.session")
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.logged_on = asyncio.Event()
        self.in_sync = asyncio.Event()
        self._logout_sent = False
        self._logout_done = asyncio.Event()
        self._resend_pending = False
        self._gap_high = 0
        self._sent: OrderedDict[int, tuple[str, list[Field], str]] = OrderedDict()
        self._last_sent = 0.0
        self._last_recv = 0.0
        self._test_req_out: str | None = None
        self._test_req_n = 0
        self.counters: dict[str, int] = {
            "garbled": 0, "rejects_sent": 0, "rejects_received": 0, "resend_requests_sent": 0,
            "resend_requests_received": 0, "gap_fills_sent": 0, "messages_resent": 0,
            "duplicates_ignored": 0, "handler_errors": 0, "logons": 0, "disconnects": 0,
        }

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start keeping the session up (returns at once; see `wait_in_sync`)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_in_sync(self, timeout: float) -> bool:
        """Wait until logged on and caught up with the peer's sequence; False on timeout."""
        try:
            await asyncio.wait_for(self.in_sync.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, reason: str = "client stopping", timeout: float = 2.0) -> None:
        """Log out (waiting up to `timeout` for the peer's Logout), close, stop reconnecting."""
        self._stopping = True
        if self.logged_on.is_set() and self._writer is not None:
            self._logout_done.clear()
            self._send_admin("5", [(58, reason)])
            self._logout_sent = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._logout_done.wait(), timeout)
        self._close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def drop(self) -> None:
        """Close the connection now without a Logout (the session reconnects)."""
        self._close()

    def skip_outgoing(self, count: int) -> None:
        """Skip `count` outgoing sequence numbers (a gap the peer must notice: tests)."""
        self.store.next_out += count
        self.store.save()

    # -- sending -------------------------------------------------------------------------

    def send(self, msg_type: str, fields: list[Field]) -> int:
        """Send an application message; its MsgSeqNum. Raises `FixNotLoggedOn`."""
        if not self.logged_on.is_set() or self._writer is None:
            raise FixNotLoggedOn(f"FIX session {self.settings.sender_comp_id}->"
                                 f"{self.settings.target_comp_id} is not logged on")
        seq = self._send(msg_type, fields)
        self._sent[seq] = (msg_type, fields, self._last_sending_time)
        while len(self._sent) > self.settings.max_resend:
            self._sent.popitem(last=False)
        return seq

    def _send_admin(self, msg_type: str, fields: Iterable[Field]) -> int:
        return self._send(msg_type, list(fields))

    def _send(self, msg_type: str, fields: list[Field], *, seq: int | None = None,
              poss_dup: bool = False, orig_time: str | None = None) -> int:
        writer = self._writer
        if writer is None:
            raise FixNotLoggedOn("not connected")
        own_seq = seq is None
        number = self.store.next_out if seq is None else seq
        now = sending_time()
        header: list[Field] = [(49, self.settings.sender_comp_id),
                               (56, self.settings.target_comp_id), (34, str(number))]
        if poss_dup:
            header.append((43, "Y"))
        header.append((52, now))
        if orig_time is not None:
            header.append((122, orig_time))
        data = encode(msg_type, fields, header)
        if own_seq:
            # Durable before the message leaves: a node killed right after this send
            # must never send another message with this number.
            self.store.next_out = number + 1
            try:
                self.store.save()
            except BaseException:
                self.store.next_out = number
                raise
        writer.write(data)
        self._last_sending_time = now
        self._last_sent = time.monotonic()
        return number

    _last_sending_time = ""
    # Why this side dropped the connection, when it did (else the peer closed it).
    _drop_reason: str | None = None

    # -- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.settings.reconnect_initial
        while not self._stopping:
            try:
                reader, writer = await asyncio.open_connection(
                    self.settings.host, self.settings.port, ssl=self._ssl_context())
            except OSError as exc:
                self._log.warning("FIX connect to %s:%d failed: %s; retry in %.1fs",
                                  self.settings.host, self.settings.port, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.reconnect_max)
                continue
            reason = "connection closed"
            self._drop_reason = None
            try:
                reason = await self._session(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # The network's doing (a reset, a broken pipe): said once, no traceback.
                reason = f"connection lost: {exc.__class__.__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - the session must survive anything
                reason = f"session error: {exc!r}"
                self._log.exception("FIX session error")
            finally:
                was_on = self.logged_on.is_set()
                self._close()
                self.logged_on.clear()
                self.in_sync.clear()
                self.counters["disconnects"] += 1
                if was_on:
                    backoff = self.settings.reconnect_initial
                if self._on_logout is not None:
                    self._on_logout(reason)
            if self._stopping:
                break
            self._log.warning("FIX session down (%s); reconnect in %.1fs", reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.settings.tls:
            return None
        return ssl.create_default_context(cafile=self.settings.tls_ca_file)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        self._writer = writer
        self._logout_sent = False
        self._resend_pending = False
        self._gap_high = 0
        self._test_req_out = None
        self._last_recv = time.monotonic()
        logon: list[Field] = [(98, "0"), (108, str(self.settings.heartbeat))]
        if self.settings.reset_on_logon:
            self.store.reset()
            self._sent.clear()
            logon.append((141, "Y"))
        if self.settings.username is not None:
            logon.append((553, self.settings.username))
        if self.settings.password is not None:
            logon.append((554, self.settings.password))
        self._send_admin("A", logon)
        framer = FixFramer()
        beat = asyncio.get_running_loop().create_task(self._heartbeats())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    # Closed here (a TestRequest unanswered) or by the peer.
                    return self._drop_reason or "peer closed the connection"
                self._last_recv = time.monotonic()
                framer.feed(data)
                while True:
                    try:
                        raw = framer.next_message()
                    except FixFramingError as exc:
                        self.counters["garbled"] += 1
                        self._log.warning("FIX: garbled input dropped: %s", exc)
                        continue
                    if raw is None:
                        break
                    stop = self._on_raw(raw)
                    if stop is not None:
                        await self._flush()
                        return stop
                await self._flush()
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    async def _flush(self) -> None:
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _heartbeats(self) -> None:
        hb = self.settings.heartbeat
        tick = min(1.0, hb / 4)
        while True:
            await asyncio.sleep(tick)
            if not self.logged_on.is_set():
                continue
            now = time.monotonic()
            if now - self._last_sent >= hb:
                self._send_admin("0", [])
            silent = now - self._last_recv
            if self._test_req_out is None and silent >= hb * 1.2:
                self._test_req_n += 1
                self._test_req_out = f"TEST-{self._test_req_n}"
                self._send_admin("1", [(112, self._test_req_out)])
            elif self._test_req_out is not None and silent >= hb * 2.4:
                self._drop_reason = (f"no answer to TestRequest {self._test_req_out} within "
                                     f"{silent:.1f}s")
                self._log.warning("FIX: %s; dropping the connection", self._drop_reason)
                self._close()
                return

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    # -- incoming --------------------------------------------------------------------------

    def _on_raw(self, raw: bytes) -> str | None:
        """Handle one framed message; a reason string ends the connection."""
        try:
            msg = decode(raw)
        except FixDecodeError as exc:
            if exc.tag in (8, 9, 10) or exc.seq_num is None:
                self.counters["garbled"] += 1
                self._log.warning("FIX: garbled message dropped: %s", exc)
                return None
            stop = self._reject_invalid(exc)
            if self._on_invalid is not None:
                try:
                    self._on_invalid(exc, raw)
                except Exception:  # noqa: BLE001 - the session must survive its owner
                    self.counters["handler_errors"] += 1
                    self._log.exception("FIX: the owner's on_invalid failed")
            return stop
        if 34 not in msg or not msg[34].isdigit():
            self.counters["garbled"] += 1
            self._log.warning("FIX: message without a valid MsgSeqNum dropped: %r", msg)
            return None
        seq = msg.seq_num
        mtype = msg.msg_type
        if msg.get(49) != self.settings.target_comp_id or msg.get(56) != \
                self.settings.sender_comp_id:
            self._reject(seq, mtype, 49, 9, f"CompID problem: {msg.get(49)}->{msg.get(56)}")
            self._send_admin("5", [(58, "CompID problem")])
            return "CompID problem"
        expected = self.store.next_in
        if mtype == "4" and msg.get(123) != "Y":  # SequenceReset-Reset: ignores MsgSeqNum
            self._sequence_reset(msg)
            return None
        if mtype == "A" and msg.get(141) == "Y":
            expected = self.store.next_in = 1
        if seq > expected:
            if mtype == "5":
                return self._logout(msg)
            self._gap_high = max(self._gap_high, seq)
            ask = not self._resend_pending
            # Pending before the Logon is handled: the session is not in sync (and
            # `connect` does not return) until the resend has filled the gap.
            self._resend_pending = True
            self.in_sync.clear()
            if mtype == "A":
                self._logon(msg)
            if ask:
                self.counters["resend_requests_sent"] += 1
                self._log.warning("FIX: MsgSeqNum %d above the expected %d; resend requested",
                                  seq, expected)
                self._send_admin("2", [(7, str(expected)), (16, "0")])
            return None
        if seq < expected:
            if msg.poss_dup:
                self.counters["duplicates_ignored"] += 1
                return None
            text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
            self._log.error("FIX: %s", text)
            self._send_admin("5", [(58, text)])
            return text
        # In order.
        if mtype == "4":  # SequenceReset-GapFill
            self._sequence_reset(msg)
            return None
        self.store.next_in = seq + 1
        self.store.save()
        try:
            stop = self._dispatch(msg)
        finally:
            self._check_caught_up()
        return stop

    def _check_caught_up(self) -> None:
        # Caught up once every number up to the highest seen above the gap has arrived
        # (resent or gap-filled).
        if self._resend_pending and self.store.next_in > self._gap_high:
            self._caught_up()

    def _caught_up(self) -> None:
        self._resend_pending = False
        if self.logged_on.is_set() and not self.in_sync.is_set():
            self.in_sync.set()
            if self._on_logon is not None:
                self._on_logon()

    def _dispatch(self, msg: FixMessage) -> str | None:
        mtype = msg.msg_type
        if mtype == "0":
            if self._test_req_out is not None and msg.get(112) == self._test_req_out:
                self._test_req_out = None
            return None
        if mtype == "1":
            self._send_admin("0", [(112, msg.get(112) or "")])
            return None
        if mtype == "2":
            self._answer_resend(msg)
            return None
        if mtype == "3":
            self.counters["rejects_received"] += 1
            self._log.warning("FIX: peer rejected our message %s: %s (reason %s, tag %s)",
                              msg.get(45), msg.get(58), msg.get(373), msg.get(371))
            if self._on_reject is not None:
                try:
                    self._on_reject(msg)
                except Exception:  # noqa: BLE001 - a bad message must not kill the session
                    self.counters["handler_errors"] += 1
                    self._log.exception("FIX: handling the Reject %r failed", msg)
            return None
        if mtype == "5":
            return self._logout(msg)
        if mtype == "A":
            self._logon(msg)
            return None
        if mtype not in self._app_types:
            self._reject(msg.seq_num, mtype, 35, 11, f"unsupported MsgType {mtype}")
            return None
        try:
            self._on_message(msg)
        except FixDecodeError as exc:
            self._reject(msg.seq_num, mtype, exc.tag, exc.reason, exc.text)
        except Exception:  # noqa: BLE001 - a bad message must not kill the session
            self.counters["handler_errors"] += 1
            self._log.exception("FIX: handling %r failed", msg)
        return None

    def _logon(self, msg: FixMessage) -> None:
        self.counters["logons"] += 1
        self.logged_on.set()
        self._log.info("FIX: logged on to %s (HeartBtInt %s)", self.settings.target_comp_id,
                       msg.get(108))
        if not self._resend_pending:
            self._caught_up()

    def _logout(self, msg: FixMessage) -> str:
        text = msg.get(58) or "logout"
        if not self._logout_sent:
            with contextlib.suppress(FixNotLoggedOn):
                self._send_admin("5", [])
        self._logout_done.set()
        self._log.info("FIX: logout: %s", text)
        return f"logout: {text}"

    def _sequence_reset(self, msg: FixMessage) -> None:
        new = msg.get_int(36)
        if new is None:
            self._reject(msg.seq_num, "4", 36, 1, "NewSeqNo missing")
            return
        if new < self.store.next_in and msg.get(123) == "Y":
            self._reject(msg.seq_num, "4", 36, 5,
                         f"NewSeqNo {new} below the expected {self.store.next_in}")
            return
        self.store.next_in = new
        self.store.save()
        self._check_caught_up()

    def _answer_resend(self, msg: FixMessage) -> None:
        self.counters["resend_requests_received"] += 1
        begin = msg.get_int(7) or 1
        end = msg.get_int(16) or 0
        last = self.store.next_out - 1
        if end == 0 or end > last:
            end = last
        self._log.warning("FIX: peer asks for a resend of %d..%d", begin, end)
        gap_start: int | None = None
        for seq in range(begin, end + 1):
            held = self._sent.get(seq)
            if held is None:
                if gap_start is None:
                    gap_start = seq
                continue
            if gap_start is not None:
                self._gap_fill(gap_start, seq)
                gap_start = None
            msg_type, fields, orig_time = held
            self._send(msg_type, fields, seq=seq, poss_dup=True, orig_time=orig_time)
            self.counters["messages_resent"] += 1
        if gap_start is not None:
            self._gap_fill(gap_start, end + 1)

    def _gap_fill(self, start: int, new_seq: int) -> None:
        self.counters["gap_fills_sent"] += 1
        self._send("4", [(123, "Y"), (36, str(new_seq))], seq=start, poss_dup=True,
                   orig_time=sending_time())

    def _reject_invalid(self, exc: FixDecodeError) -> str | None:
        seq = exc.seq_num or 0
        if seq == self.store.next_in:
            self.store.next_in = seq + 1
            self.store.save()
        self._reject(seq, exc.msg_type, exc.tag, exc.reason, exc.text)
        return None

    def _reject(self, ref_seq: int, ref_type: str | None, ref_tag: int | None, reason: int,
                text: str) -> None:
        self.counters["rejects_sent"] += 1
        self._log.warning("FIX: rejecting message %d (%s): tag %s: %s", ref_seq, ref_type,
                          ref_tag, text)
        fields: list[Field] = [(45, str(ref_seq))]
        if ref_tag is not None:
            fields.append((371, str(ref_tag)))
        if ref_type:
            fields.append((372, ref_type))
        fields += [(373, str(reason)), (58, text[:200])]
        with contextlib.suppress(FixNotLoggedOn):
            self._send_admin("3", fields)
