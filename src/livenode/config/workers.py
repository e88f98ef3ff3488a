"""Topology configuration of a multiprocess node: workers, roles, cores, policies.

```toml
mode = "multiprocess"

[supervisor]
heartbeat_interval = 0.5        # seconds between worker heartbeats
heartbeat_timeout = 5.0         # a worker silent this long is treated as hung
start_timeout = 30.0            # the start fails after this long without progress
[supervisor.stop_timeouts]      # per shutdown phase, then SIGKILL
trader = 10.0
data = 5.0
risk = 5.0
exec = 10.0

[[workers]]
name = "data-SIM"
role = "data"                   # data | trader | risk | exec
members = ["SIM"]               # data: data clients; trader: strategy ids; exec: exec clients
cores = [1]                     # omitted: the core plan chooses
on_exit = "restart"             # restart | stop
```

Without `[[workers]]` the supervisor derives one data worker per data client,
one trader, one risk and one exec worker per exec client.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from livenode.config.base import ConfigStruct

Role = Literal["data", "trader", "risk", "exec"]
ROLES: tuple[Role, ...] = ("data", "trader", "risk", "exec")
# Shutdown runs the roles in this order: no new orders first, execution last.
SHUTDOWN_ORDER: tuple[Role, ...] = ("trader", "data", "risk", "exec")
RiskPlacement = Literal["worker", "exec", "trader"]

PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
CoreId = Annotated[int, msgspec.Meta(ge=0)]
WorkerName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]*\Z")]


class StopTimeouts(ConfigStruct, frozen=True, kw_only=True):
    """Seconds each shutdown phase may take before its workers are killed."""

    trader: PositiveSeconds = 10.0
    data: PositiveSeconds = 5.0
    risk: PositiveSeconds = 5.0
    exec: PositiveSeconds = 10.0

    def total(self) -> float:
        return self.trader + self.data + self.risk + self.exec


class SupervisorConfig(ConfigStruct, frozen=True, kw_only=True):
    """Health and shutdown tuning of the supervisor."""

    heartbeat_interval: PositiveSeconds = 0.5
    heartbeat_timeout: PositiveSeconds = 5.0
    # Not a deadline: the start (or a restarted worker's) fails when no starting
    # worker moved for this long (a new stage, or CPU burnt importing and building).
    start_timeout: PositiveSeconds = 30.0
    stop_timeouts: StopTimeouts = StopTimeouts()
    # Restart back-off: first delay, doubled per consecutive crash up to the max.
    restart_backoff: PositiveSeconds = 0.5
    restart_backoff_max: PositiveSeconds = 10.0
    # A worker that crashes more than this many times within restart_window
    # is in a crash loop: the node stops instead of restarting it again.
    max_restarts: NonNegativeInt = 3
    restart_window: PositiveSeconds = 60.0
    # Where the risk engine runs: "worker" (its own process, the default), "exec"
    # (inside the one exec worker: an order crosses 2 bus hops instead of 3) or
    # "trader" (inside the one trader worker). A worker that hosts risk is not
    # restarted when it dies (on_exit = "stop"): risk's verdicts and limits are
    # node-wide state that a restart in the middle of trading would lose.
    risk_placement: RiskPlacement = "worker"

    def __post_init__(self) -> None:
        if not self.heartbeat_timeout > self.heartbeat_interval:
            raise ValueError(
                f"heartbeat_timeout: expected more than heartbeat_interval "
                f"({self.heartbeat_interval:g}), got {self.heartbeat_timeout:g}"
            )
        if self.restart_backoff_max < self.restart_backoff:
            raise ValueError(
                f"restart_backoff_max: expected at least restart_backoff "
                f"({self.restart_backoff:g}), got {self.restart_backoff_max:g}"
            )


class WorkerConfig(ConfigStruct, frozen=True, kw_only=True):
    """One worker process: its role, what it hosts, where it runs, what happens when it dies."""

    name: WorkerName
    role: Role
    members: list[str] = []
    cores: list[CoreId] | None = None
    on_exit: Literal["restart", "stop"] = "stop"
