"""StartProgress: a start fails when it stops moving, not at a fixed deadline."""

from __future__ import annotations

from livenode.supervisor.start_progress import CPU_STEP_S, StartProgress


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _progress(cpu: dict[int, float | None]) -> tuple[StartProgress, _Clock]:
    clock = _Clock()
    return StartProgress(cpu_seconds=cpu.get, clock=clock), clock


def test_a_stage_reached_resets_the_stillness() -> None:
    progress, clock = _progress({})
    clock.t += 20
    assert progress.still_for() == 20
    progress.moved()
    clock.t += 1
    assert progress.still_for() == 1


def test_cpu_burnt_by_starting_workers_counts_as_moving() -> None:
    cpu: dict[int, float | None] = {1: 0.0, 2: 0.0}
    progress, clock = _progress(cpu)
    clock.t += 25
    # Two importing interpreters: together a step's worth, though neither alone.
    cpu[1], cpu[2] = CPU_STEP_S * 0.6, CPU_STEP_S * 0.6
    progress.sample([1, 2])
    assert progress.still_for() == 0


def test_a_waiting_worker_s_heartbeats_do_not_count_as_moving() -> None:
    cpu: dict[int, float | None] = {1: 1.0}
    progress, clock = _progress(cpu)
    progress.sample([1])  # the CPU it had burnt before: one step
    progress.moved()
    for _ in range(60):  # a minute of heartbeats at ~2 ms of CPU a second
        clock.t += 1
        cpu[1] = (cpu[1] or 0.0) + 0.002
        progress.sample([1])
    assert progress.still_for() == 60


def test_a_worker_gone_is_skipped_not_an_error() -> None:
    progress, clock = _progress({7: None})
    clock.t += 3
    progress.sample([7])
    assert progress.still_for() == 3
