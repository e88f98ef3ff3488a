"""A role of a multiprocess node as an object: what a worker of it does around its
node's start and when a peer rejoins, and the few facts the supervisor needs.

A worker process hosts one or two roles (risk may share the trader's or the exec
worker's process: `roles_of`). It knows none of them by name: it calls each hosted
role's hooks, in `Role.order`, through the `RoleHost` it offers them. The
supervisor knows roles only through their facts (`resync_from`,
`carries_venues`, `hosts_risk`). Recovery behaviour lives here, in one place per
role: what it holds while a peer is away, what it sends a peer that rejoined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from livenode.bus.bridge import BusBridge
    from livenode.node.node import TradingNode


@dataclass(frozen=True)
class Rejoined:
    """A peer worker restarted and joined the running node (the supervisor's second
    Go): its name, its role and its members (venues, strategy ids)."""

    worker: str
    role: str
    members: tuple[str, ...]


class RoleHost(Protocol):
    """What a worker process offers the roles it hosts."""

    @property
    def name(self) -> str:
        """The worker's name (log lines)."""

    @property
    def node(self) -> TradingNode:
        """The worker's node (built: kernel, engines, clients)."""

    @property
    def publisher_id(self) -> str:
        """This worker's id on the bus (the publisher of what it replays)."""

    @property
    def bridge(self) -> BusBridge:
        """The bridge between the node's bus and the worker's sockets."""

    def hold_commands(self, role: str) -> None:
        """Hold incoming commands until `role` releases them (see `release_commands`)."""

    def release_commands(self, role: str, why: str) -> None:
        """`role` no longer needs commands held; they flow once no role holds them."""

    def follow_execution_state(self) -> None:
        """Track the state replays of the exec workers (idempotent)."""

    async def wait_execution_state(self) -> None:
        """Return once every exec and data peer replayed its state to this worker."""

    def replay_execution_state(self, strategies: set[str] | None) -> None:
        """Publish this worker's open orders and positions (of `strategies`, or all)."""

    def sources_started(self, venues: list[str]) -> None:
        """Say again that the finite data sources of `venues` started."""


class Role:
    """Base of the roles: every hook does nothing unless a role overrides it."""

    name: ClassVar[str]
    # Hook order within one worker: a worker hosting exec and risk replays its
    # execution state (exec) before it waits for every peer's (risk).
    order: ClassVar[int]
    # The roles whose running workers send state again when a worker of this role
    # rejoins (the supervisor's second Go goes to them).
    resync_from: ClassVar[frozenset[str]] = frozenset()
    # While a worker of this role is down, trading to its venues (its members) halts.
    carries_venues: ClassVar[bool] = False
    # A worker of this role runs the risk engine: trading-state commands go to it.
    hosts_risk: ClassVar[bool] = False

    def install(self, host: RoleHost) -> None:
        """The node is built and its bus bridged; nothing runs yet: subscribe, hold."""

    async def before_ready(self, host: RoleHost) -> None:
        """Every peer joined and subscribed; the worker says Ready after this."""

    def publish_snapshots(self, host: RoleHost) -> None:
        """Send again what was published before the peers listened (at Go, and to a
        peer that rejoined)."""

    async def after_go(self, host: RoleHost) -> None:
        """The supervisor said Go; the strategies start after every role's hook."""

    def peer_rejoined(self, host: RoleHost, peer: Rejoined) -> None:
        """A peer worker restarted and joined: send it what it cannot have seen."""
