"""Worker process entry point: ``python -m livenode.supervisor.worker``.

A worker is a `TradingNode` with the components of one role (and only its
members: its strategies, its venues' clients), whose bus is bridged to its peers
over ZeroMQ. Its life on the control channel: Hello → WorkerSpec → (build,
connect clients, join every bus peer) → Ready → Go → (strategies start) →
Heartbeats → Stop → StopAck. A Go to a worker that runs already means "a peer
restarted and joined": it sends that peer the state it missed (see `_resync`).
Components do not know any of this: they publish
and subscribe on the same `MessageBus` as in single mode.

It never outlives the supervisor: the parent-death signal (SIGTERM) is armed
first thing, and each heartbeat also checks the parent pid and how long ago the
supervisor last answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine
from typing import Any

import uvloop
import zmq

from livenode.bus.bridge import BusBridge
from livenode.bus.commands import CommandTable
from livenode.bus.control import (
    Ack,
    AuditReply,
    AuditRequest,
    ControlSocket,
    Failed,
    Go,
    Heartbeat,
    Hello,
    PeerMoved,
    Ready,
    SetTradingState,
    StateChanged,
    Stop,
    StopAck,
    VenueReconciled,
    VenueRestarted,
    WorkerCounters,
    WorkerSpec,
)
from livenode.bus.stage_trace import StageTrace
from livenode.bus.zmq_transport import HELLO_PREFIX, ZmqPublisher, ZmqSubscriber
from livenode.cache.shm import ShmTables, segment_prefix
from livenode.config import load_config_str
from livenode.core.latency import EncodedHistograms
from livenode.core.logging import logging_from_env, setup_logging
from livenode.model.codec import Codec
from livenode.model.enums import TradingState
from livenode.model.identifiers import Venue
from livenode.node.control_endpoint import audit_now
from livenode.node.node import TradingNode
from livenode.node.run_report import encode_report
from livenode.roles import Rejoined, Role, hosted_roles
from livenode.roles.host import WorkerRoleHost
from livenode.roles.sources import SourceRelay
from livenode.roles.topology import bus_subscribers
from livenode.supervisor.bus_security import bus_keys
from livenode.supervisor.cores import actual_cores
from livenode.supervisor.handles import EXIT_BOOT_FAILED, EXIT_LIFELINE_LOST
from livenode.supervisor.lifeline import set_parent_death_signal

_log = logging.getLogger("livenode.worker")

SPEC_TIMEOUT = 60.0
# How long a worker waits for its peers' hellos. The supervisor judges whether a
# start is still moving (supervisor/start_progress.py) and stops it if not; this
# only bounds a wait that nobody would end otherwise.
PEERS_TIMEOUT = 600.0
SUBSCRIBERS_TIMEOUT = 10.0
# Signals this close together count as one (a second one later means "exit now").
SIGNAL_COALESCE_S = 1.0


# Seconds between two encodings of a worker's hop histograms for its heartbeat.
HOP_REPORT_INTERVAL = 2.0

class Worker:
    """One worker process: control channel, bridged bus, and its role's node."""

    def __init__(self, name: str, control_endpoint: str, parent_pid: int) -> None:
        self.name = name
        self.control_endpoint = control_endpoint
        self.parent_pid = parent_pid
        self.node: TradingNode | None = None
        self._go = asyncio.Event()
        self._last_ack = time.monotonic()
        self._lifeline_lost = False
        self._hops = EncodedHistograms()
        self._stages = EncodedHistograms()
        self._tick_to_trade: dict[str, str] = {}  # exec client -> encoded histogram so far
        self._stage_trace: StageTrace | None = None
        self._hops_encoded_at = -HOP_REPORT_INTERVAL
        self._report_at = -HOP_REPORT_INTERVAL
        self._spec: WorkerSpec | None = None
        self._roles: frozenset[str] = frozenset()
        self._publisher: ZmqPublisher | None = None
        self._subscriber: ZmqSubscriber | None = None
        self._bridge: BusBridge | None = None
        self._signals = 0
        self._last_signal = 0.0
        self._shared: ShmTables | None = None
        # The roles this worker hosts (in hook order) and what it offers them.
        self._hosted: list[Role] = []
        self._host: WorkerRoleHost | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # venue reconnections in progress
        self._sources: SourceRelay | None = None  # start and end of finite data sources

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        context: zmq.Context[Any] = zmq.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.IDENTITY, self.name.encode())
        dealer.connect(self.control_endpoint)
        control = ControlSocket(dealer, loop)
        tasks: list[asyncio.Task[Any]] = []
        try:
            control.send(Hello(worker=self.name, pid=os.getpid()))
            spec = await self._receive_spec(control)
            self._spec = spec
            try:
                node = self._build(spec, context, loop)
            except Exception as exc:
                _log.exception("worker %s could not be built", self.name)
                control.send(Failed(worker=self.name, error=f"{type(exc).__name__}: {exc}"))
                return EXIT_BOOT_FAILED
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal, sig)
            tasks = [
                asyncio.ensure_future(self._control_loop(control)),
                asyncio.ensure_future(self._heartbeats(control, spec)),
            ]
            try:
                await node.run_async(handle_signals=False)
            except Exception as exc:  # a start gate failed: the node stopped already
                # (The bounded linger of control.close() below lets it reach the supervisor.)
                control.send(Failed(worker=self.name, error=str(exc)))
                return EXIT_BOOT_FAILED
            report = encode_report(node.report(self.name))
            clean = node.exit_code == 0
            control.send(
                StopAck(
                    worker=self.name,
                    clean=clean,
                    detail=node.failure or node.stop_reason or "",
                    report=report,
                )
            )
            if self._lifeline_lost:
                return EXIT_LIFELINE_LOST
            return 0 if clean else 1
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for closable in (self._bridge, self._subscriber, self._publisher):
                if closable is not None:
                    closable.close()
            # Linger briefly: the last message (StopAck, Failed) must reach the
            # supervisor; bounded, so a vanished supervisor cannot hold us.
            control.close(linger_ms=2000)
            context.term()
            if self.node is not None:
                self.node.dispose()
            if self._shared is not None:
                self._shared.close()

    async def _receive_spec(self, control: ControlSocket) -> WorkerSpec:
        deadline = time.monotonic() + SPEC_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no spec from the supervisor within {SPEC_TIMEOUT:g}s")
            _, msg = await asyncio.wait_for(control.recv(), remaining)
            if isinstance(msg, WorkerSpec):
                return msg

    def _build(
        self, spec: WorkerSpec, context: zmq.Context[Any], loop: asyncio.AbstractEventLoop
    ) -> TradingNode:
        config = load_config_str(spec.node_config_json.decode(), "json")
        try:
            config.logging.apply(process_name=self.name)
        except OSError as exc:  # keep the stderr logging set up at the start
            _log.error("logging.file: cannot open %s: %s", config.logging.file, exc.strerror)
        self._sources = SourceRelay(self.name, spec.role, list(spec.peers), self._control_send)
        if config.cache.shared_memory:
            # Attached, never created: the supervisor owns (and unlinks) the segments.
            self._shared = ShmTables.attach(segment_prefix(config.trader_id, spec.instance_id))
        self._hosted = hosted_roles(spec.role, config.supervisor.risk_placement)
        self._roles = frozenset(role.name for role in self._hosted)
        node = TradingNode(
            config,
            loop,
            roles=self._roles,
            members=tuple(spec.members),
            before_trading=self._ready_and_wait_for_go,
            trading_started=self._sources.trading_started,
            run_dir=spec.run_dir,
            shared_tables=self._shared,
            restarted=spec.restarts > 0,
        )
        self.node = node
        self._sources.install(node)
        node.build()
        codec = Codec()
        bus = config.message_bus
        # tcp: CURVE on every bus socket, and a ZAP handler (the publisher's) in this
        # process admitting only the node's client keys; ipc: None.
        keys = bus_keys(bus)
        self._stage_trace = (StageTrace(bus.stage_trace_every, loop)
                             if bus.stage_trace_every else None)
        self._publisher = ZmqPublisher(
            context, spec.publish_endpoint, spec.publisher_id, codec.encode, loop,
            sndhwm=bus.sndhwm, curve=keys, consumers=dict(spec.consumers),
            stage_trace=self._stage_trace, yield_after_send=bus.yield_after_send,
        )
        self._bridge = BusBridge(node.kernel.msgbus, self._publisher, tuple(spec.export_prefixes))
        self._subscriber = ZmqSubscriber(
            context, spec.publisher_id, codec.decode, self._bridge.deliver, loop,
            rcvhwm=bus.rcvhwm, curve=keys, latency_every=bus.hop_latency_every,
            stage_trace=self._stage_trace,
            spin_us=bus.spin_us if bus.wait == "spin" else 0.0,
        )
        for peer in spec.peers:
            self._subscriber.connect(peer.endpoint, peer.prefixes)
        self._host = WorkerRoleHost(self.name, node, spec, self._bridge,
                                    self._sources.publish_started)
        for role in self._hosted:
            role.install(self._host)
        return node

    def _resync(self, go: Go) -> None:
        """Go to a running worker: a peer restarted and joined the running node. Each
        hosted role sends it what it cannot have seen (see `Role.peer_rejoined`)."""
        node, host = self.node, self._host
        if node is None or not node.is_running or host is None:
            return
        peer = Rejoined(go.resync_worker, go.resync_role, tuple(go.resync_venues))
        for role in self._hosted:
            role.publish_snapshots(host)
        for role in self._hosted:
            role.peer_rejoined(host, peer)

    async def _ready_and_wait_for_go(self) -> None:
        """Between the node's connection gates and its strategies: the handshake.

        A stop (Stop from the supervisor, a signal) ends it at once: the peers it
        waits for may have stopped already and will never join; the node then
        aborts its start."""
        node = self.node
        assert node is not None
        handshake = asyncio.ensure_future(self._handshake())
        stop = asyncio.ensure_future(node.wait_stop_requested())
        try:
            await asyncio.wait({handshake, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not handshake.done():
                handshake.cancel()
            await asyncio.gather(handshake, stop, return_exceptions=True)
        if not handshake.cancelled():
            handshake.result()  # a join that timed out fails the start

    async def _handshake(self) -> None:
        spec, node, subscriber, host = self._spec, self.node, self._subscriber, self._host
        assert spec is not None and node is not None and subscriber is not None
        assert host is not None
        await subscriber.wait_joined([p.publisher_id for p in spec.peers], PEERS_TIMEOUT)
        await self._wait_subscribers(node, spec)
        for role in self._hosted:
            await role.before_ready(host)
        self._control_send(
            Ready(
                worker=self.name,
                pid=os.getpid(),
                cores=list(actual_cores(os.getpid())),
                publisher_id=spec.publisher_id,
            )
        )
        await self._go.wait()
        for role in self._hosted:
            role.publish_snapshots(host)
        for role in self._hosted:
            await role.after_go(host)

    async def _wait_subscribers(self, node: TradingNode, spec: WorkerSpec) -> None:
        """Wait until every peer that takes from our publisher subscribed to it (its
        hello subscription comes after its real ones, on the same connection).

        At the node's first start the supervisor's Go already implies it (every peer
        said Ready after our hello answer). A restarted worker needs it: its peers
        reconnect to its new socket at their own pace, and what it publishes before
        their subscriptions arrive is lost (the first orders of a restarted trader).
        Bounded: a peer that is itself down joins when it comes back."""

        publisher = self._publisher
        assert publisher is not None
        expected = {HELLO_PREFIX + name for name in bus_subscribers(node.config, spec.worker)}
        deadline = time.monotonic() + SUBSCRIBERS_TIMEOUT
        while not expected <= publisher.subscriptions:
            if time.monotonic() > deadline:
                missing = sorted(t.removeprefix(HELLO_PREFIX)
                                 for t in expected - publisher.subscriptions)
                _log.warning("%s: peer(s) %s not subscribed after %gs; going on", self.name,
                             ", ".join(missing), SUBSCRIBERS_TIMEOUT)
                return
            await asyncio.sleep(0.01)  # the publisher offers no event; it reads on its FD

    _control: ControlSocket | None = None

    def _control_send(self, msg: Any) -> None:
        if self._control is not None:
            self._control.send(msg)

    async def _control_loop(self, control: ControlSocket) -> None:
        self._control = control
        commands = self._register_commands()
        while True:
            _, msg = await control.recv()
            self._last_ack = time.monotonic()
            try:
                commands.dispatch(b"", msg)
            except Exception:
                _log.exception("%s: control message %r failed", self.name, msg)

    def _register_commands(self) -> CommandTable[bytes]:
        """What the supervisor may tell this worker (any role; a command that needs
        a part the role does not have says so)."""
        table: CommandTable[bytes] = CommandTable(self.name)
        table.register(Go, lambda _, msg: self._on_go(msg))
        table.register(Stop, lambda _, msg: self._stop(
            f"supervisor: {msg.reason}" if msg.reason else "supervisor stop"))
        table.register(SetTradingState, lambda _, msg: self._set_trading_state(msg))
        table.register(PeerMoved, lambda _, msg: self._on_peer_moved(msg))
        table.register(VenueRestarted,
                       lambda _, msg: self._in_background(self._reconnect_venue(msg.venue)))
        table.register(AuditRequest,
                       lambda _, msg: self._in_background(self._audit(msg.request_id)))
        table.ignore(Ack)  # the answer to a heartbeat: `_last_ack` is all it is for
        return table

    def _on_go(self, msg: Go) -> None:
        if self._go.is_set():
            self._resync(msg)  # a second Go: a restarted peer joined
        else:
            self._go.set()

    def _on_peer_moved(self, msg: PeerMoved) -> None:
        if self._subscriber is not None:
            _log.info("%s: %s moved to %s", self.name, msg.worker, msg.endpoint)
            self._subscriber.move(msg.old_endpoint, msg.endpoint)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconnect_venue(self, venue: str) -> None:
        """The venue's process restarted: reconnect our clients of it, reconcile, and
        tell the supervisor, which resumes trading to it only then."""
        node = self.node
        if node is None or node.kernel.exec_engine is None:
            return
        clients = [c for c in node.kernel.exec_clients.values() if str(c.venue) == venue]
        if not clients:
            return
        timeouts = node.config.timeouts
        _log.warning("%s: venue %s restarted; reconnecting %s", self.name, venue,
                     ", ".join(c.name for c in clients))
        ok, detail = False, ""
        try:
            for client in clients:
                await asyncio.wait_for(client.reconnect(), timeouts.connection)
            ok = await node.kernel.exec_engine.reconcile(timeouts.reconciliation)
            if not ok:
                detail = f"reconciliation did not finish within {timeouts.reconciliation:g}s"
        except Exception as exc:  # any failure keeps the venue halted, with the reason
            detail = f"{type(exc).__name__}: {exc}"
        if ok:
            _log.warning("%s: venue %s reconnected and reconciled", self.name, venue)
        else:
            _log.error("%s: venue %s not reconciled: %s", self.name, venue, detail)
        self._control_send(VenueReconciled(worker=self.name, venue=venue, ok=ok, detail=detail))

    async def _audit(self, request_id: int) -> None:
        """`livenode audit`: this worker's verdicts (none without an execution engine)."""
        if self.node is not None:
            self._control_send(await audit_now(self.node, request_id))
        else:
            self._control_send(AuditReply(request_id=request_id))

    def _set_trading_state(self, msg: SetTradingState) -> None:
        node = self.node
        risk = node.kernel.risk_engine if node is not None else None
        if risk is None:
            _log.warning("SetTradingState sent to a worker without a risk engine")
            return
        venue = Venue(msg.venue) if msg.venue else None
        risk.set_trading_state(TradingState(msg.state), msg.reason, venue)
        self._control_send(
            StateChanged(worker=self.name, state=f"trading {msg.state}", detail=msg.reason)
        )

    async def _heartbeats(self, control: ControlSocket, spec: WorkerSpec) -> None:
        self._control = control
        # Silence counts from our first heartbeat, not from the spawn: the interpreter
        # start and the build (seconds on a loaded host) gave the supervisor nothing
        # to answer.
        self._last_ack = time.monotonic()
        suspected_at: float | None = None  # _last_ack when silence was first seen
        while True:
            await asyncio.sleep(spec.heartbeat_interval)
            if os.getppid() != self.parent_pid:
                self._lifeline_lost = True
                self._stop("supervisor gone (parent pid changed)")
                return
            silent = time.monotonic() - self._last_ack
            if silent <= spec.heartbeat_timeout:
                suspected_at = None
            elif suspected_at != self._last_ack:
                # Seen once: our own loop may have been starved (a busy or shared
                # core) with the supervisor's answers unread in the socket. Ask once
                # more and give the control loop a turn before believing it.
                suspected_at = self._last_ack
            else:
                self._lifeline_lost = True
                self._stop(f"supervisor silent for {silent:.1f}s")
                return
            try:
                heartbeat = self._heartbeat()
            except Exception:  # a heartbeat must never stop: the supervisor would kill us
                _log.exception("building the heartbeat failed")
                heartbeat = Heartbeat(worker=self.name, ts_ns=time.time_ns(), state="UNKNOWN",
                                      counters=WorkerCounters())
            control.send(heartbeat)

    def _latency_histograms(self, stats: dict[str, Any]) -> None:
        """Add the hop into this worker from each publisher (``hops_hdr``), the stage
        trace (``stages_hdr``, ``stage_fanout``) and, in an exec worker, tick to trade
        so far per exec client (``t2t_hdr``) to `stats`, as encoded
        HdrHistograms: the supervisor reads the percentiles (the slow part, ~1 ms,
        kept off this worker's loop). Encoded at most every `HOP_REPORT_INTERVAL`
        seconds, and only those with new samples."""
        sub, trace = self._subscriber, self._stage_trace
        now = time.monotonic()
        if now - self._hops_encoded_at >= HOP_REPORT_INTERVAL:
            self._hops_encoded_at = now
            if sub is not None:
                self._hops.refresh(sub.hop_latency)
            if trace is not None:
                self._stages.refresh(trace.histograms)
            node = self.node
            if node is not None and node.kernel.exec_clients:
                self._tick_to_trade = {name: h.hdr for name, h in
                                       node.stats.live_tick_to_trade().items()}
        if self._hops.encoded:
            stats["hops_hdr"] = self._hops.encoded
        if self._tick_to_trade:
            stats["t2t_hdr"] = self._tick_to_trade
        if self._stages.encoded and trace is not None:
            stats["stages_hdr"] = self._stages.encoded
            stats["stage_fanout"] = trace.fanout

    def _heartbeat(self) -> Heartbeat:
        node = self.node
        pub, sub = self._publisher, self._subscriber
        counters = WorkerCounters(
            msgs_in=sub.received if sub else 0,
            msgs_out=pub.sent if pub else 0,
            dropped=pub.dropped if pub else 0,
            gaps=sub.gaps if sub else 0,
            malformed=(sub.malformed if sub else 0) + (pub.foreign_frames if pub else 0),
            # Under back-pressure, or held for a peer that is down.
            pending=pub.pending + pub.held if pub else 0,
            handler_errors=node.kernel.msgbus.handler_errors if node else 0,
            late_topics=sub.late_topics if sub else 0,
        )
        stats = node.stats.status() if node is not None else {}
        self._latency_histograms(stats)
        # The light run report (for the supervisor's metrics), every
        # HOP_REPORT_INTERVAL: it reads every order in the cache.
        report = b""
        t = time.monotonic()
        if node is not None and t - self._report_at >= HOP_REPORT_INTERVAL:
            self._report_at = t
            report = encode_report(node.stats.report(live=True))
        return Heartbeat(
            worker=self.name,
            ts_ns=time.time_ns(),
            state=node.state.value if node is not None else "BUILDING",
            counters=counters,
            stats_json=json.dumps(stats, default=str).encode(),
            report=report,
        )

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        t = time.monotonic()
        if self._signals and t - self._last_signal < SIGNAL_COALESCE_S:
            # One event seen twice (the parent-death SIGTERM arrives doubled here when
            # the supervisor is killed): not a second request; exiting now would skip
            # closing the sockets and unlinking their ipc files.
            _log.debug("%s again within %gs: coalesced", name, SIGNAL_COALESCE_S)
            return
        self._signals += 1
        self._last_signal = t
        if self._signals > 1:
            _log.critical("%s during the stop: exiting now", name)
            os._exit(128 + signum)
        self._stop(f"received {name}")

    def _stop(self, reason: str) -> None:
        if self.node is not None:
            self.node.stop(reason)
        self._go.set()  # a node waiting for Go must not wait through its stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livenode-worker")
    parser.add_argument("--name", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    set_parent_death_signal(args.parent)
    try:
        # Its file and screen level from the supervisor, before the config arrives.
        setup_logging(args.log_level, process_name=args.name, **logging_from_env(args.name))
    except OSError as exc:
        setup_logging(args.log_level, process_name=args.name)
        _log.error("cannot write the log file: %s; logging to stderr only", exc)
    worker = Worker(args.name, args.control, args.parent)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(worker.run())


if __name__ == "__main__":
    sys.exit(main())
