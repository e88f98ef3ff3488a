"""The core plan: cpuset-aware, explicit requests checked, sharing warned about."""

from __future__ import annotations

import os

import pytest

from livenode.supervisor.cores import (
    CorePlanError,
    WorkerCores,
    actual_cores,
    allowed_cores,
    pin,
    plan_cores,
)

AUTO = [WorkerCores(n) for n in ("data", "trader", "risk", "exec")]


def test_enough_cores_gives_each_worker_its_own() -> None:
    plan = plan_cores(AUTO, allowed=range(8))
    assert plan.supervisor == (0,)
    assert plan.workers == {"data": (1,), "trader": (2,), "risk": (3,), "exec": (4,)}
    assert plan.warnings == []


def test_two_cores_share_the_second_and_warn_with_the_cost() -> None:
    plan = plan_cores(AUTO, allowed=[4, 7])
    assert plan.supervisor == (4,)
    assert set(plan.workers.values()) == {(7,)}
    assert len(plan.warnings) == 1 and "4 workers share 1 core" in plan.warnings[0]
    assert "context switch" in plan.warnings[0]


def test_explicit_core_outside_allowed_set_is_an_error() -> None:
    with pytest.raises(
        CorePlanError, match=r"workers.risk.cores: core\(s\) \[9\] not in the allowed set \[0, 1\]"
    ):
        plan_cores([WorkerCores("risk", (9,))], allowed=[0, 1])


def test_explicit_requests_are_kept_and_automatic_workers_avoid_them() -> None:
    plan = plan_cores(
        [WorkerCores("data", (2,)), WorkerCores("trader"), WorkerCores("exec")], allowed=range(4)
    )
    assert plan.workers["data"] == (2,)
    assert {plan.workers["trader"], plan.workers["exec"]} == {(1,), (3,)}


def test_pin_reads_back_the_real_affinity() -> None:
    allowed = allowed_cores()
    assert tuple(sorted(os.sched_getaffinity(0))) == allowed
    before = actual_cores(os.getpid())
    try:
        assert pin(os.getpid(), [allowed[-1]]) == (allowed[-1],)
    finally:
        pin(os.getpid(), before)
    assert actual_cores(os.getpid()) == before
