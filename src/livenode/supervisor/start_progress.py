"""Whether a start is still moving: the supervisor's judge of a slow start.

A fixed start deadline fails a start that is only slow: on a loaded 2-core host four
interpreters importing at once may take half a minute before their first log line.
A start instead fails when it *stops moving* for the start timeout. It moves when a
starting worker reaches a new stage (spawned, hello, ready, a state it reports) or
burns CPU (importing, building: work a hung or deadlocked worker does not do).

Only workers still STARTING count; a worker waiting for its peers spends almost no
CPU (a heartbeat every half second), so a start stuck on a peer that never comes
does stop moving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import psutil

# CPU seconds the starting workers must burn together to count as one step forward.
# A waiting worker's heartbeats cost about a millisecond each: 30 s of them stay
# well below this; one interpreter start-up is several steps.
CPU_STEP_S = 0.5


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (None when it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


class StartProgress:
    """When the starting workers last moved.

    Args:
        cpu_seconds: how to read a process's CPU time (injected by tests).
        clock: a monotonic clock (injected by tests).
    """

    def __init__(
        self,
        cpu_seconds: Callable[[int], float | None] = process_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu_seconds = cpu_seconds
        self._clock = clock
        self._cpu_seen: dict[int, float] = {}
        self._cpu_since_step = 0.0
        self.moved_at = clock()

    def moved(self) -> None:
        """A starting worker reached a new stage."""
        self.moved_at = self._clock()
        self._cpu_since_step = 0.0

    def sample(self, starting_pids: Iterable[int]) -> None:
        """Add the CPU the starting workers burnt since the last sample."""
        grown = 0.0
        for pid in starting_pids:
            cpu = self._cpu_seconds(pid)
            if cpu is None:
                continue
            grown += max(0.0, cpu - self._cpu_seen.get(pid, 0.0))
            self._cpu_seen[pid] = cpu
        self._cpu_since_step += grown
        if self._cpu_since_step >= CPU_STEP_S:
            self.moved()

    def still_for(self) -> float:
        """Seconds since the start last moved."""
        return self._clock() - self.moved_at
