"""What a worker process offers the roles it hosts (`livenode.roles.RoleHost`): the
node, the bridge's command hold shared by its roles, the exec workers' state
replays, and the finite data sources' relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from livenode.bus import topics
from livenode.bus.bridge import BusBridge
from livenode.bus.control import WorkerSpec
from livenode.engines.peer_recovery import replay_execution_state
from livenode.model.events import StateReplayed
from livenode.node.node import TradingNode

_log = logging.getLogger("livenode.worker")


class WorkerRoleHost:
    """The `RoleHost` of one worker (see `livenode.roles.role`)."""

    def __init__(
        self, name: str, node: TradingNode, spec: WorkerSpec, bridge: BusBridge,
        sources_started: Callable[[list[str]], None],
    ) -> None:
        self._name = name
        self._node = node
        self._spec = spec
        self._bridge = bridge
        self._sources_started = sources_started
        self._holding: set[str] = set()
        self._following = False
        # Exec workers (publisher ids) whose state replay reached this worker.
        self._replayed_by: set[str] = set()
        self._replay_progress = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    @property
    def node(self) -> TradingNode:
        return self._node

    @property
    def publisher_id(self) -> str:
        return self._spec.publisher_id

    @property
    def bridge(self) -> BusBridge:
        return self._bridge

    # -- the command hold, shared by the worker's roles --------------------------------

    def hold_commands(self, role: str) -> None:
        self._holding.add(role)
        self._bridge.hold(("commands.",))

    def release_commands(self, role: str, why: str) -> None:
        self._holding.discard(role)
        if self._holding:
            return  # another role of this worker still needs them held
        released = self._bridge.release()
        if released:
            _log.info("%s: %s; %d held command(s) released", self._name, why, released)

    # -- execution state ---------------------------------------------------------------

    def follow_execution_state(self) -> None:
        if self._following:
            return
        self._following = True
        msgbus = self._node.kernel.msgbus
        msgbus.subscribe(topics.EXECUTION_REPLAYED, self._on_state_replayed)
        msgbus.subscribe(topics.ALL_INSTRUMENTS, self._on_replay_progress)

    def _on_state_replayed(self, marker: StateReplayed) -> None:
        self._replayed_by.add(marker.publisher)
        _log.info("%s: state from %s (%s): %d instrument(s), %d open order(s), "
                  "%d open position(s)", self._name, marker.publisher, marker.role,
                  marker.instruments, marker.orders, marker.positions)
        self._replay_progress.set()

    def _on_replay_progress(self, _msg: Any) -> None:
        self._replay_progress.set()

    async def wait_execution_state(self) -> None:
        """A trader starts its strategies, and a risk worker takes its commands, only
        once every data worker has sent its instruments and every exec worker its
        state (open orders, open positions), and every replayed position has its
        instrument: a strategy never sees itself flat when the venue says otherwise,
        and risk never denies a command for state it was about to receive.

        Raises:
            TimeoutError: not within ``timeouts.reconciliation`` (the start fails; the
                supervisor's restart policy decides what follows).
        """
        node = self._node
        marker_prefix = topics.exact(topics.EXECUTION_REPLAYED)
        expected = {p.publisher_id for p in self._spec.peers if marker_prefix in p.prefixes}
        mirror = node.kernel.exec_mirror
        timeout = node.config.timeouts.reconciliation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def complete() -> bool:
            pending = mirror.pending_positions if mirror is not None else 0
            return expected <= self._replayed_by and pending == 0

        while not complete():
            remaining = deadline - loop.time()
            if remaining <= 0:
                missing = sorted(expected - self._replayed_by)
                raise TimeoutError(
                    f"{self._name}: execution state not replayed within {timeout:g}s "
                    f"(missing from: {', '.join(missing) or 'none'}; positions waiting for "
                    f"their instrument: {mirror.pending_positions if mirror else 0})"
                )
            self._replay_progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._replay_progress.wait(), remaining)

    def replay_execution_state(self, strategies: set[str] | None) -> None:
        kernel = self._node.kernel
        orders, positions = replay_execution_state(
            kernel.cache, kernel.msgbus, kernel.trader_id, self.publisher_id, strategies)
        _log.info("%s: replayed %d open order(s) and %d open position(s)", self._name,
                  orders, positions)

    # -- finite data sources -----------------------------------------------------------

    def sources_started(self, venues: list[str]) -> None:
        self._sources_started(venues)
