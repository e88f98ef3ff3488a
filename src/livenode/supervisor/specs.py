"""What each worker is told at its start (`WorkerSpec`): its role, members, cores,
where it publishes, whom it listens to and who consumes what it publishes."""

from __future__ import annotations

import socket

from livenode.bus.control import BusPeer, WorkerSpec
from livenode.config import TradingNodeConfig
from livenode.supervisor.handles import WorkerHandle
from livenode.supervisor.rundir import RunDir
from livenode.supervisor.topology import Subscription

__all__ = ["WorkerSpecs", "free_tcp_port", "tcp_port_taken"]


def free_tcp_port(host: str) -> int:
    """A port the OS considers free on `host` now (the worker binds it moments later;
    on a busy host another process could take it first, and the worker then fails
    to start with an error naming the endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def tcp_port_taken(endpoint: str) -> bool:
    """Whether another socket holds the port of `tcp://host:port` now.

    Probed with SO_REUSEADDR, as ZeroMQ binds: a port left in TIME_WAIT by a dead
    worker's connections is free; one another process bound or listens on is not."""
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return True
        return False


class WorkerSpecs:
    """Builds the spec of each worker of one node.

    Args:
        config: the node's configuration (instance id and key directory resolved).
        handles: the node's workers by name.
        subscriptions: per worker, what it subscribes to from which peer.
    """

    def __init__(
        self,
        config: TradingNodeConfig,
        handles: dict[str, WorkerHandle],
        subscriptions: dict[str, list[Subscription]],
        config_json: bytes,
    ) -> None:
        self._config = config
        self._handles = handles
        self._subscriptions = subscriptions
        self._config_json = config_json
        self._tcp_endpoints: dict[str, str] = {}

    def spec(self, handle: WorkerHandle, run_dir: RunDir) -> WorkerSpec:
        """The spec of `handle` (sent again, unchanged but for restarts, at a restart)."""
        subscriptions = self._subscriptions
        peers = [
            BusPeer(
                worker=sub.peer,
                publisher_id=self._handles[sub.peer].publisher_id,
                endpoint=self.publish_endpoint(sub.peer, run_dir),
                prefixes=list(sub.prefixes),
            )
            for sub in subscriptions[handle.name]
        ]
        # Who subscribes to what this worker publishes: its publisher holds commands
        # for a consumer that is down, and trusts only these consumers' hellos.
        consumers = {
            self._handles[other].publisher_id: list(sub.prefixes)
            for other, subs in subscriptions.items()
            if other != handle.name
            for sub in subs
            if sub.peer == handle.name
        }
        supervisor = self._config.supervisor
        return WorkerSpec(
            worker=handle.name,
            role=handle.role,
            members=list(handle.config.members),
            cores=list(handle.cores),
            publish_endpoint=self.publish_endpoint(handle.name, run_dir),
            publisher_id=handle.publisher_id,
            peers=peers,
            export_prefixes=sorted({p for prefixes in consumers.values() for p in prefixes}),
            heartbeat_interval=supervisor.heartbeat_interval,
            heartbeat_timeout=supervisor.heartbeat_timeout,
            node_config_json=self._config_json,
            instance_id=self._config.instance_id or "",
            run_dir=str(run_dir.path),
            restarts=handle.restarts,
            consumers=consumers,
        )

    def move_endpoint(self, worker: str) -> tuple[str, str] | None:
        """A fresh TCP port for a restarting worker: while it was down, any local
        process could bind its old one (the worker would then fail to start).
        Returns (old, new) endpoints; None on ipc (the run directory is ours alone)."""
        old = self._tcp_endpoints.get(worker)
        if old is None:
            return None
        host = self._config.message_bus.tcp_host
        new = f"tcp://{host}:{free_tcp_port(host)}"
        self._tcp_endpoints[worker] = new
        return old, new

    def subscribers_of(self, worker: str) -> list[str]:
        """The workers that connect to `worker`'s publisher."""
        return [name for name, subs in self._subscriptions.items()
                if any(sub.peer == worker for sub in subs)]

    def publish_endpoint(self, worker: str, run_dir: RunDir) -> str:
        """Where `worker` binds its bus publisher: an ipc socket in the run directory,
        or a TCP port chosen once per worker (kept across its restarts)."""
        bus = self._config.message_bus
        if bus.transport == "ipc":
            return run_dir.publish_endpoint(worker)
        if worker not in self._tcp_endpoints:
            self._tcp_endpoints[worker] = f"tcp://{bus.tcp_host}:{free_tcp_port(bus.tcp_host)}"
        return self._tcp_endpoints[worker]
