"""Which CPU cores each process runs on.

The plan starts from the cores this process may use (``os.sched_getaffinity``,
so a cpuset or `taskset` around the node is honoured) and never from hard-coded
ids. Pinning is done with psutil and read back, because the kernel may refuse
or narrow a request (cpusets, offline cores) and the operator must see what the
processes really got.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import psutil


class CorePlanError(ValueError):
    """A requested core is not one this node may use."""


@dataclass(frozen=True)
class WorkerCores:
    """A worker's name and the cores it asked for (None: let the plan choose)."""

    name: str
    requested: tuple[int, ...] | None = None


@dataclass(frozen=True)
class CorePlan:
    supervisor: tuple[int, ...]
    workers: dict[str, tuple[int, ...]]
    warnings: list[str] = field(default_factory=list)


def allowed_cores() -> tuple[int, ...]:
    """The cores this process may run on (cpuset-aware)."""
    return tuple(sorted(os.sched_getaffinity(0)))


def plan_cores(workers: Sequence[WorkerCores], allowed: Sequence[int]) -> CorePlan:
    """Place the supervisor and each worker on cores.

    Explicit requests must be a subset of `allowed`. Automatic placement gives the
    supervisor the first core and every automatic worker a core of its own when
    there are enough; otherwise the automatic workers share the cores left after
    the supervisor's (on a 2-core host that is one core for all workers, which
    measured faster than spreading them: a wake-up on a shared core is cheaper than
    a cross-core one when the hops are sequential).
    """
    allowed = tuple(sorted(set(allowed)))
    if not allowed:
        raise CorePlanError("no CPU cores available to this process")
    plan: dict[str, tuple[int, ...]] = {}
    for worker in workers:
        if worker.requested is None:
            continue
        if not worker.requested:
            raise CorePlanError(f"workers.{worker.name}.cores: empty list (omit it for automatic)")
        outside = sorted(set(worker.requested) - set(allowed))
        if outside:
            raise CorePlanError(
                f"workers.{worker.name}.cores: core(s) {outside} not in the allowed set "
                f"{list(allowed)} (os.sched_getaffinity)"
            )
        plan[worker.name] = tuple(sorted(set(worker.requested)))

    automatic = [w.name for w in workers if w.requested is None]
    supervisor = (allowed[0],)
    spare = allowed[1:] if len(allowed) > 1 else allowed
    taken = {core for cores in plan.values() for core in cores}
    free = [core for core in spare if core not in taken] or list(spare)
    if len(free) >= len(automatic):
        for name, core in zip(automatic, free, strict=False):
            plan[name] = (core,)
    else:
        for index, name in enumerate(automatic):
            plan[name] = (free[index % len(free)],)

    warnings: list[str] = []
    hot = len(workers)
    usable = len(set(allowed) - set(supervisor)) or len(allowed)
    if hot > usable:
        warnings.append(
            f"{hot} workers share {usable} core(s) besides the supervisor's: each message "
            "hop waits for a context switch on a shared core (a few microseconds each, more "
            "under load); expect higher tail latency than with one core per worker"
        )
    return CorePlan(supervisor=supervisor, workers=plan, warnings=warnings)


def pin(pid: int, cores: Sequence[int]) -> tuple[int, ...]:
    """Pin process `pid` to `cores` and return the affinity it actually has now."""
    process = psutil.Process(pid)
    process.cpu_affinity(list(cores))
    return tuple(sorted(process.cpu_affinity()))


def actual_cores(pid: int) -> tuple[int, ...]:
    """The cores process `pid` may run on right now."""
    return tuple(sorted(psutil.Process(pid).cpu_affinity()))
