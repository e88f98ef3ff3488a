"""`SimVenueServer`: a `SimVenue` in a process of its own, behind two ZeroMQ sockets.

In multiprocess mode the sim data client lives in the data worker and the sim
exec client in the exec worker, so they cannot share one in-process venue. The
venue then runs here, as a service the supervisor starts before the workers and
which may outlive a worker (or the node): crash recovery is tested against a
venue that kept its orders.

- ROUTER (``command_endpoint``): requests of `remote_protocol`; attached exec
  clients get every account event, in order, never dropped (``ROUTER_MANDATORY``
  turns a full peer queue into EAGAIN, and the frame waits in an ordered per-peer
  queue instead of vanishing). A peer that went away is forgotten.
- PUB (``market_endpoint``, an XPUB: the server sees its subscriptions):
  instruments, quotes and trades, one frame each, ``topic NUL payload``. Market
  data to a slow subscriber may be dropped by ZeroMQ's high-water mark (it is
  market data: the newest quote matters).

A random-walk feed starts with the server. A replay waits for a client's
``start_feed`` (the sim data client sends it once the node's strategies have
subscribed), then for the subscriptions that client named to reach the publisher,
and runs once: a second ``start_feed`` (a restarted data worker) gets the feed's
status, not the file again. Its end goes to every client that asked, as
`FeedEnded` on the command socket and as the ``feed.end`` market frame after the
last tick.

Entry point::

    python -m livenode.venues.sim.server --venue SIM --config-file RUN/sim-SIM.json \\
        --command ipc://RUN/sim-SIM-cmd.ipc --market ipc://RUN/sim-SIM-md.ipc [--parent PID]

prints ``ready`` on stdout once both sockets are bound (and a random walk runs); stops
cleanly on SIGTERM/SIGINT (exit 0), closing the sockets and removing their ipc
files; with ``--parent`` it also stops when its parent process is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import msgspec
import zmq

from livenode.core.clock import Clock, LiveClock
from livenode.model.codec import Codec, CodecError
from livenode.model.commands import CancelAllOrders, CancelOrder, ModifyOrder, SubmitOrder
from livenode.model.data import QuoteTick, TradeTick
from livenode.model.messages import Message
from livenode.venues.sim.config import SimVenueConfig
from livenode.venues.sim.remote_protocol import (
    INSTRUMENT,
    NO_REPLY,
    QUOTE,
    READY_LINE,
    TRADE,
    Event,
    ProtocolCodec,
    ProtocolError,
    Reply,
    Request,
    market_prefix,
)
from livenode.venues.sim.server_feed import FeedControl
from livenode.venues.sim.state_store import VenueStateError
from livenode.venues.sim.venue import SimVenue

__all__ = ["READY_LINE", "SimVenueServer", "main"]

_DRAIN_BATCH = 1024
_RETRY_S = 0.001  # re-try a blocked peer queue this often (only under back-pressure)
_PARENT_POLL_S = 0.25

_log = logging.getLogger("livenode.venues.sim.server")

_COMMANDS: dict[str, tuple[type, str]] = {
    "submit": (SubmitOrder, "submit"),
    "modify": (ModifyOrder, "modify"),
    "cancel": (CancelOrder, "cancel"),
    "cancel_all": (CancelAllOrders, "cancel_all"),
}


def _unlink_ipc(endpoint: str) -> None:
    # libzmq leaves the file of a bound ipc:// endpoint behind; it is ours to remove.
    if endpoint.startswith("ipc://") and not endpoint.startswith("ipc://@"):
        Path(endpoint.removeprefix("ipc://")).unlink(missing_ok=True)


class SimVenueServer:
    """Hosts one `SimVenue` and serves it over a ROUTER and a PUB socket.

    Counters: ``requests``, ``malformed`` (dropped frames), ``events_sent``,
    ``events_unattached`` (account events while no client was attached),
    ``queued`` (frames that waited for a peer), ``peers_lost``, ``market_sent``,
    ``market_dropped``.
    """

    def __init__(
        self,
        venue_config: SimVenueConfig,
        venue: str,
        command_endpoint: str,
        market_endpoint: str,
        loop: asyncio.AbstractEventLoop,
        clock: Clock,
    ) -> None:
        self.venue = SimVenue(venue_config, loop, clock, venue)
        self.command_endpoint = command_endpoint
        self.market_endpoint = market_endpoint
        self._loop = loop
        self._codec = Codec()
        self._proto = ProtocolCodec()
        self._ctx: zmq.Context[Any] | None = None
        self._router: zmq.Socket[Any] | None = None
        self._pub: zmq.Socket[Any] | None = None
        self._router_fd = -1
        # Attached exec clients: identity -> next event seq; insertion-ordered.
        self._peers: dict[bytes, int] = {}
        self._pending: dict[bytes, deque[bytes]] = {}
        self._retry: asyncio.TimerHandle | None = None
        self._check_scheduled = False
        self._prefixes: dict[tuple[str, Any], bytes] = {}
        self._market_buf = bytearray()
        self._running = False
        # The replay: started once (on the first start_feed), watched to its end.
        self.feed_control = FeedControl(self.venue, loop, lambda: self._pub, self._send)
        self.requests = 0
        self.malformed = 0
        self.events_sent = 0
        self.events_unattached = 0
        self.queued = 0
        self.peers_lost = 0
        self.market_sent = 0
        self.market_dropped = 0

    # -- lifecycle --------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._running

    def start(self) -> None:
        """Bind both sockets, hook the venue's market and account, start the feed."""
        if self._running:
            return
        ctx: zmq.Context[Any] = zmq.Context()
        self._ctx = ctx
        try:
            self._router = ctx.socket(zmq.ROUTER)
            self._router.setsockopt(zmq.LINGER, 0)
            self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            self._router.setsockopt(zmq.SNDHWM, 100_000)
            self._router.setsockopt(zmq.RCVHWM, 100_000)
            self._bind(self._router, self.command_endpoint)
            # XPUB: a PUB that also reports its subscriptions (a replay waits for them).
            self._pub = ctx.socket(zmq.XPUB)
            self._pub.setsockopt(zmq.LINGER, 0)
            self._pub.setsockopt(zmq.SNDHWM, 100_000)
            self._bind(self._pub, self.market_endpoint)
        except Exception:
            self._close_sockets()
            raise
        self._router_fd = cast(int, self._router.getsockopt(zmq.FD))
        self._loop.add_reader(self._router_fd, self._on_router_events)
        self._running = True
        self.venue.subscribe_market(self._on_market)
        self.venue.attach_account(self._on_account_event)
        if self.venue.replay_feed is None:
            self.venue.start()
            self.feed_control.watch()  # its end or failure reaches the clients that ask
        else:
            _log.info("sim venue %s: replay waits for a start_feed (once the strategies "
                      "subscribed)", self.venue.venue)
        self._schedule_check()

    @staticmethod
    def _bind(socket: zmq.Socket[Any], endpoint: str) -> None:
        try:
            socket.bind(endpoint)
        except zmq.ZMQError as exc:
            raise OSError(f"sim venue server cannot bind {endpoint}: {exc}") from exc

    def stop(self) -> None:
        """Stop the feed, deliver what is in flight (best effort), close, remove ipc files."""
        if not self._running:
            return
        self.feed_control.close()
        # The venue flushes its delayed events into our listener on stop.
        self.venue.stop()
        self.venue.unsubscribe_market(self._on_market)
        self.venue.detach_account(self._on_account_event)
        self._flush_all()
        self.venue.close()
        self._running = False
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._router_fd >= 0:
            self._loop.remove_reader(self._router_fd)
            self._router_fd = -1
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in (self._router, self._pub):
            if sock is not None:
                sock.close(linger=0)
        self._router = self._pub = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
        _unlink_ipc(self.command_endpoint)
        _unlink_ipc(self.market_endpoint)

    @property
    def attached(self) -> list[bytes]:
        """Identities of the attached exec clients."""
        return list(self._peers)

    # -- market -----------------------------------------------------------------------

    def _prefix(self, kind: str, instrument_id: Any) -> bytes:
        key = (kind, instrument_id)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = market_prefix(kind, instrument_id)
        return prefix

    def _on_market(self, msg: Any) -> None:
        pub = self._pub
        if pub is None:
            return
        kind = type(msg)
        if kind is QuoteTick:
            prefix = self._prefix(QUOTE, msg.instrument_id)
        elif kind is TradeTick:
            prefix = self._prefix(TRADE, msg.instrument_id)
        else:
            prefix = self._prefix(INSTRUMENT, msg.id)
        # Topic and payload in one buffer, one frame (a second frame costs more).
        buf = self._market_buf
        buf[:] = prefix
        self._codec.encode_into(msg, buf, -1)
        try:
            pub.send(buf, zmq.NOBLOCK)
            self.market_sent += 1
        except zmq.Again:
            self.market_dropped += 1

    # -- account events ---------------------------------------------------------------

    def _on_account_event(self, event: Any) -> None:
        if not self._peers:
            # Like the in-process venue with no listener: the next client learns the
            # state from the AccountState at attach and the reports.
            self.events_unattached += 1
            return
        payload = self._codec.encode(event)
        for peer in list(self._peers):
            self._send_event(peer, payload)

    def _send_event(self, peer: bytes, payload: bytes) -> None:
        seq = self._peers[peer] + 1
        self._peers[peer] = seq
        self._send(peer, self._proto.encode(Event(seq, payload)))
        self.events_sent += 1

    # -- sending ----------------------------------------------------------------------

    def _send(self, peer: bytes, data: bytes) -> None:
        """Send to one peer in order: behind its queue if it has one, never dropped."""
        queue = self._pending.get(peer)
        if queue:
            queue.append(data)
            self.queued += 1
            return
        if self._try_send(peer, data) is False:
            self._pending.setdefault(peer, deque()).append(data)
            self.queued += 1
            self._schedule_retry()
        self._schedule_check()

    def _try_send(self, peer: bytes, data: bytes) -> bool | None:
        """True sent, False blocked (EAGAIN), None the peer is gone (forgotten)."""
        router = self._router
        if router is None:
            return None
        try:
            router.send_multipart([peer, data], zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self._forget(peer)
            return None

    def _forget(self, peer: bytes) -> None:
        if self._peers.pop(peer, None) is not None:
            self.peers_lost += 1
            _log.warning("sim venue %s: client %s is gone; detached", self.venue.venue, peer.hex())
        self._pending.pop(peer, None)

    def _flush_all(self) -> bool:
        progressed = False
        for peer in list(self._pending):
            queue = self._pending[peer]
            while queue:
                sent = self._try_send(peer, queue[0])
                if sent is None:
                    break  # forgotten, queue dropped with it
                if not sent:
                    break
                queue.popleft()
                progressed = True
            if not queue:
                self._pending.pop(peer, None)
        return progressed

    def _schedule_retry(self) -> None:
        # ROUTER's POLLOUT says "some peer can take a message", not which: re-try the
        # blocked queues on a short timer while there are any.
        if self._retry is None and self._running:
            self._retry = self._loop.call_later(_RETRY_S, self._on_retry)

    def _on_retry(self) -> None:
        self._retry = None
        self._flush_all()
        if self._pending:
            self._schedule_retry()

    def _schedule_check(self) -> None:
        # A send may consume the FD's edge: look at EVENTS once per loop turn.
        if not self._check_scheduled and self._running:
            self._check_scheduled = True
            self._loop.call_soon(self._on_router_events)

    # -- requests ---------------------------------------------------------------------

    def _on_router_events(self) -> None:
        self._check_scheduled = False
        router = self._router
        if router is None:
            return
        self.feed_control.drain_subscriptions()
        for _ in range(_DRAIN_BATCH):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._handle(frames)
        self._schedule_check()  # batch full: yield to the loop, then go on draining

    def _handle(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._malformed(frames[0] if frames else b"", f"{len(frames)} frames, expected 2")
            return
        peer, data = frames
        try:
            request = self._proto.decode(data)
        except ProtocolError as exc:
            self._malformed(peer, str(exc))
            return
        if type(request) is not Request:
            self._malformed(peer, f"{type(request).__name__} is not a request")
            return
        self.requests += 1
        try:
            reply = self._dispatch(peer, request)
        except (CodecError, ValueError) as exc:
            self._malformed(peer, f"{request.op}: {exc}")
            reply = Reply(request.request_id, ok=False, error=f"{request.op}: {exc}")
        except Exception as exc:  # a venue bug must not kill the server; say it loudly
            _log.exception("sim venue %s: %s failed", self.venue.venue, request.op)
            reply = Reply(request.request_id, ok=False, error=f"{request.op}: {exc!r}")
        if reply is not None and request.request_id != NO_REPLY:
            self._send(peer, self._proto.encode(reply))
        if request.op == "attach_account":
            # After the reply, on the same ordered pipe: the state the client starts from.
            self._send_event(peer, self._codec.encode(self.venue.account_state()))

    def _malformed(self, peer: bytes, what: str) -> None:
        self.malformed += 1
        if self.malformed <= 10 or self.malformed % 1000 == 0:
            _log.error("sim venue: dropped frame #%d from %s: %s", self.malformed, peer.hex(), what)

    def _dispatch(self, peer: bytes, request: Request) -> Reply | None:
        op = request.op
        rid = request.request_id
        venue = self.venue
        command = _COMMANDS.get(op)
        if command is not None:
            cls, method = command
            msg = self._codec.decode(request.payload)
            if type(msg) is not cls:
                raise ValueError(f"expected {cls.__name__}, got {type(msg).__name__}")
            getattr(venue, method)(msg)
            return Reply(rid)
        if op == "ping":
            return Reply(rid, venue=str(venue.venue), account_id=str(venue.account_id),
                         session=venue.session, feed=venue.feed.config.mode)
        if op == "start_feed":
            status = self.feed_control.start_feed(peer, request.payload)
            return Reply(rid, items=[msgspec.msgpack.encode(status)])
        if op == "attach_account":
            self._peers.setdefault(peer, 0)
            return Reply(rid, venue=str(venue.venue), account_id=str(venue.account_id),
                         session=venue.session)
        if op == "detach":
            self._peers.pop(peer, None)
            return Reply(rid)
        items: Sequence[Message]
        if op == "instruments":
            items = venue.instruments()
        elif op == "order_status_reports":
            items = venue.order_status_reports(request.open_only)
        elif op == "order_status_reports_for":
            ids = msgspec.msgpack.decode(request.payload, type=list[str])
            items = venue.order_status_reports_for(ids)
        elif op == "fill_reports":
            items = venue.fill_reports()
        elif op == "account_state":
            items = [venue.account_state()]
        else:  # position_reports: the Literal type admits nothing else
            items = venue.position_reports()
        encode = self._codec.encode
        return Reply(rid, items=[encode(m) for m in items])


# -- process entry point ---------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m livenode.venues.sim.server",
        description="Run a simulated venue as a process of its own.",
    )
    parser.add_argument("--venue", default="SIM", help="venue name (default SIM)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config-file", default=None,
                        help="SimVenueConfig as a JSON file (the supervisor writes one into "
                             "the node's run directory)")
    source.add_argument("--config-json", default="{}", help="SimVenueConfig as JSON")
    parser.add_argument("--command", required=True, help="ROUTER endpoint (ipc:// or tcp://)")
    parser.add_argument("--market", required=True, help="PUB endpoint (ipc:// or tcp://)")
    parser.add_argument("--parent", type=int, default=None,
                        help="stop when this process is no longer our parent")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, config: SimVenueConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = SimVenueServer(config, args.venue, args.command, args.market, loop, LiveClock(loop))
    state_failure: list[Exception] = []

    def on_state_failure(exc: Exception) -> None:
        # A venue that cannot keep its book must not go on trading: stop, exit 1.
        state_failure.append(exc)
        stop.set()

    server.venue.on_state_failure = on_state_failure
    server.start()
    watch: asyncio.TimerHandle | None = None

    def check_parent() -> None:
        # Polling getppid is portable and enough: the supervisor also kills its
        # process group; this covers a supervisor killed with -9.
        nonlocal watch
        if os.getppid() != args.parent:
            _log.warning("sim venue %s: parent %d is gone; stopping", args.venue, args.parent)
            stop.set()
            return
        watch = loop.call_later(_PARENT_POLL_S, check_parent)

    if args.parent is not None:
        check_parent()
    try:
        print(READY_LINE, flush=True)
        _log.info("sim venue %s serving on %s and %s (pid %d)", args.venue, args.command,
                  args.market, os.getpid())
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
        server.stop()
    _log.info("sim venue %s stopped (%d requests, %d malformed, %d events)", args.venue,
              server.requests, server.malformed, server.events_sent)
    return 1 if state_failure else 0


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT (or the parent's death); the exit code."""
    args = _parse_args(argv)
    from livenode.core.logging import logging_from_env, setup_logging

    name = f"sim-{args.venue}"
    try:
        # Started by a supervisor: its log file (named for this process) and screen level.
        setup_logging(args.log_level, process_name=name, **logging_from_env(name))
    except OSError as exc:
        setup_logging(args.log_level, process_name=name)
        _log.error("cannot write the log file: %s; logging to stderr only", exc)
    try:
        if args.config_file is not None:
            raw = Path(args.config_file).read_bytes()
            source = args.config_file
        else:
            raw, source = args.config_json.encode(), "--config-json"
        config = msgspec.json.decode(raw, type=SimVenueConfig)
    except OSError as exc:
        print(f"sim venue server: cannot read --config-file: {exc}", file=sys.stderr)
        return 2
    except msgspec.DecodeError as exc:
        print(f"sim venue server: bad venue config in {source}: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:  # still runs, just slower
        factory = None
    else:
        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(_serve(args, config))
    except (OSError, ValueError, VenueStateError) as exc:  # bind, config, state file
        print(f"sim venue server: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
