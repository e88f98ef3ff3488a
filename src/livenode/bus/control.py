"""The supervisor <-> worker control protocol (supervisor ROUTER, worker DEALER).

A worker's life on this channel:

    worker                         supervisor
    Hello(name, pid)        ->
                            <-     WorkerSpec(role, members, bus peers, cores, config)
    Ready(cores, publisher) ->     (clients connected, every bus peer joined)
                            <-     Go (every worker is ready: strategies may start)
    Heartbeat(counters)     ->     (every heartbeat_interval)
    StateChanged(state)     ->
                            <-     Stop(phase)
    StopAck(clean, detail)  ->
    Failed(error)           ->     (start-up failed: no restart loop)
    ClientStopRequest       ->     (a client's source ended: stop the node in order)

Messages are frozen msgspec structs in a tagged union: one decode call per
frame, no pickle. The node's configuration travels as its JSON bytes, because
this layer must not import the config layer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import msgspec
import zmq

from livenode.core.log_limiter import LogLimiter

_log = logging.getLogger("livenode.bus.control")


class ControlMessage(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    """Base of every control-channel message; the tag is the class name."""


class Hello(ControlMessage, frozen=True):
    worker: str
    pid: int


class BusPeer(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A publisher a worker subscribes to, and the topic prefixes it takes from it."""

    worker: str
    publisher_id: str
    endpoint: str
    prefixes: list[str]


class WorkerSpec(ControlMessage, frozen=True):
    worker: str
    role: str
    members: list[str]
    cores: list[int]
    publish_endpoint: str
    publisher_id: str
    peers: list[BusPeer]
    # Topic prefixes some peer takes from this worker: what its bridge sends out.
    export_prefixes: list[str]
    heartbeat_interval: float
    heartbeat_timeout: float
    node_config_json: bytes
    instance_id: str
    run_dir: str
    # How often this worker was restarted before (0: the node's first start of it).
    restarts: int = 0
    # The workers that take from this one: subscriber id -> the prefixes they take.
    # Held commands and events are released only to them (never to an anonymous
    # subscriber of the publisher).
    consumers: dict[str, list[str]] = {}


class Ready(ControlMessage, frozen=True):
    worker: str
    pid: int
    cores: list[int]
    publisher_id: str


class Go(ControlMessage, frozen=True):
    """Every worker is READY and subscribed: start trading.

    Sent again to a running worker when a peer restarted: `resync_worker`, its
    role and its members (`resync_venues`: venues of a data worker, strategy ids of
    a trader) say who, so the worker re-sends only what that peer lost.
    """

    resync_worker: str = ""
    resync_role: str = ""
    resync_venues: list[str] = []


class WorkerCounters(msgspec.Struct, frozen=True, array_like=True, gc=False):
    msgs_in: int = 0
    msgs_out: int = 0
    dropped: int = 0
    gaps: int = 0
    malformed: int = 0
    pending: int = 0
    handler_errors: int = 0
    # Topics whose first message seen had a sequence number above 1.
    late_topics: int = 0


class Heartbeat(ControlMessage, frozen=True):
    worker: str
    ts_ns: int
    state: str
    counters: WorkerCounters
    # The worker's node facts (orders, fills, positions, ticks) as JSON, for the
    # supervisor's status line; empty when nothing changed.
    stats_json: bytes = b""
    # The worker's light run report (msgpack of livenode.node.run_report.RunReport,
    # which this layer does not import), every few seconds; empty in between.
    report: bytes = b""


class SetTradingState(ControlMessage, frozen=True):
    """To the risk worker: halt (or resume) trading to a venue whose exec worker is down."""

    state: str
    venue: str | None
    reason: str


class VenueRestarted(ControlMessage, frozen=True):
    """To exec workers: the venue process of `venue` was restarted; reconnect and reconcile."""

    venue: str


class PeerMoved(ControlMessage, frozen=True):
    """To the workers that subscribe to `worker`: it restarts publishing on
    `endpoint` instead of `old_endpoint` (tcp: its old port may be taken)."""

    worker: str
    old_endpoint: str
    endpoint: str


class VenueReconciled(ControlMessage, frozen=True):
    """From an exec worker: its client of `venue` reconnected and reconciled (``ok``),
    or not (``detail`` says why; trading to the venue then stays HALTED)."""

    worker: str
    venue: str
    ok: bool
    detail: str = ""


class StateChanged(ControlMessage, frozen=True):
    worker: str
    state: str
    detail: str = ""


class Stop(ControlMessage, frozen=True):
    """Stop in order: the worker stops its components and answers StopAck."""

    reason: str = ""


class StopAck(ControlMessage, frozen=True):
    worker: str
    clean: bool
    detail: str = ""
    # The worker's full run report (msgpack of livenode.node.run_report.RunReport),
    # its collector pauses under its name.
    report: bytes = b""


class Failed(ControlMessage, frozen=True):
    """The worker could not start; the supervisor stops the node instead of restarting it."""

    worker: str
    error: str




class ClientStopRequest(ControlMessage, frozen=True):
    """A client asked for the node's stop because its source ended (a replay with
    ``stop_at_end``, or one stopped at a bad line: ``failure`` is then the run's
    failure and the node exits 1).

    Sent by the worker whose client asked (``source`` is that worker) and, when it is
    a data worker, by every trader worker once it has handled everything that worker
    published before (``source`` names the data worker): the supervisor stops the
    node when the traders have the whole source, not while ticks are in flight."""

    worker: str
    source: str
    reason: str
    failure: str = ""


class ControlCodecError(ValueError):
    """A control frame that is not one of the protocol's messages."""


class ControlCodec:
    """Encodes and decodes control messages; one instance per process."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(ControlUnion)

    def encode(self, msg: ControlMessage) -> bytes:
        return self._encoder.encode(msg)

    def decode(self, data: bytes) -> ControlMessage:
        try:
            msg: ControlMessage = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ControlCodecError(f"malformed control frame ({len(data)} bytes): {exc}") from exc
        return msg


class StatusRequest(ControlMessage, frozen=True):
    """From `livenode status`: the supervisor answers with a `StatusReply`."""


class WorkerStatus(msgspec.Struct, frozen=True, array_like=True, gc=False):
    name: str
    role: str
    pid: int
    cores: list[int]
    state: str
    uptime_s: float
    heartbeat_age_s: float
    restarts: int
    counters: WorkerCounters
    rss_bytes: int
    cpu_percent: float


class StatusReply(ControlMessage, frozen=True):
    trader_id: str
    instance_id: str
    supervisor_pid: int
    state: str
    workers: list[WorkerStatus]
    # Venues trading is halted to by the supervisor (venue process down, not yet
    # reconciled), with the reason: never hidden behind RUNNING.
    halted_venues: dict[str, str] = {}
    # Per exec worker: orders its venue has not answered for longer than
    # inflight_timeout (only workers with any).
    stalled_orders: dict[str, int] = {}
    # Per worker with a cache database: its writer's state (healthy, pending,
    # lag_seconds, fault, trading), as the worker last reported it.
    databases: dict[str, dict[str, Any]] = {}
    # Instruments whose new orders an exec worker denies because the venue reports
    # another position: instrument -> reason.
    halted_instruments: dict[str, str] = {}
    # Bus hop latency, "publisher->worker" -> count, p50 .. p99.9, max (ns), as the
    # receiving worker last reported it (sampled: message_bus.hop_latency_every).
    hop_latency: dict[str, dict[str, int]] = {}
    # Tick to trade so far per exec client -> count, p50 .. p99.9, max (ns), as its
    # exec worker last reported it.
    tick_to_trade: dict[str, dict[str, int]] = {}


class StopRequest(ControlMessage, frozen=True):
    """From `livenode stop` (and the supervisor's own signal handler): one command path."""

    now: bool = False
    reason: str = ""


class Ack(ControlMessage, frozen=True):
    detail: str = ""


class AuditRequest(ControlMessage, frozen=True):
    """From `livenode audit` to the node, and from the supervisor to each exec worker:
    audit the books against the venues now (`livenode.engines.audit`)."""

    request_id: int = 0


class AuditReply(ControlMessage, frozen=True):
    """The answer to an `AuditRequest`: ``audit`` holds the verdicts by exec client
    (`livenode.engines.audit.encode_audits`); ``error`` names what did not answer."""

    request_id: int = 0
    audit: bytes = b""
    error: str = ""


ControlUnion = (
    Hello
    | WorkerSpec
    | Ready
    | Go
    | Heartbeat
    | StateChanged
    | Stop
    | StopAck
    | Failed
    | StatusRequest
    | StatusReply
    | StopRequest
    | Ack
    | AuditRequest
    | AuditReply
    | SetTradingState
    | VenueRestarted
    | PeerMoved
    | VenueReconciled
    | ClientStopRequest
)


class ControlSocket:
    """A DEALER or ROUTER control socket driven from the event loop through its FD.

    Incoming messages are decoded and queued; `recv()` awaits the next one as
    ``(peer identity or b"", message)``. A malformed frame is logged and dropped.
    """

    def __init__(
        self,
        socket: zmq.Socket[Any],
        loop: asyncio.AbstractEventLoop,
        codec: ControlCodec | None = None,
    ) -> None:
        self._socket = socket
        self._loop = loop
        self._codec = codec or ControlCodec()
        self._router = socket.socket_type == zmq.ROUTER
        self._queue: asyncio.Queue[tuple[bytes, ControlMessage]] = asyncio.Queue()
        self._fd = cast(int, socket.getsockopt(zmq.FD))
        loop.add_reader(self._fd, self._drain)
        self._closed = False
        self.malformed = 0
        # A peer sending garbage must not flood the log (counted in `malformed`).
        self._log_limit = LogLimiter(_log)
        loop.call_soon(self._drain)

    def send(self, msg: ControlMessage, to: bytes | None = None) -> None:
        """Send `msg` (to peer `to` on a ROUTER); never blocks the loop."""
        payload = self._codec.encode(msg)
        try:
            if self._router:
                if to is None:
                    raise ValueError("a ROUTER control socket needs the peer's identity")
                self._socket.send_multipart([to, payload], zmq.NOBLOCK)
            else:
                self._socket.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            _log.warning(
                "control message %s to %r dropped: peer queue full", type(msg).__name__, to
            )
        except zmq.ZMQError as exc:  # ROUTER_MANDATORY: the peer is gone
            _log.warning("control message %s to %r not sent: %s", type(msg).__name__, to, exc)
        # A send may consume the FD's edge: look again for incoming messages.
        self._loop.call_soon(self._drain)

    async def recv(self) -> tuple[bytes, ControlMessage]:
        return await self._queue.get()

    def _drain(self) -> None:
        if self._closed:
            return
        while True:
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            peer = frames[0] if self._router and len(frames) > 1 else b""
            try:
                msg = self._codec.decode(frames[-1])
            except ControlCodecError as exc:
                self.malformed += 1
                self._log_limit.log(logging.ERROR, "malformed", "dropped control frame from "
                                    "%r: %s (#%d)", peer, exc, self.malformed)
                continue
            self._queue.put_nowait((peer, msg))

    def close(self, linger_ms: int = 0) -> None:
        """Close the socket; `linger_ms` > 0 lets queued messages leave first (bounded)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._socket.close(linger=linger_ms)
