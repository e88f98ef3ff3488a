"""When a dead worker or service is started again: back-off, and the crash-loop bound."""

from __future__ import annotations

from collections import deque

from livenode.config.workers import SupervisorConfig

__all__ = ["restart_delay"]


def restart_delay(crash_times: deque[float], config: SupervisorConfig, t: float) -> float | None:
    """Record a crash at `t` and return the back-off before the restart.

    The back-off doubles with each crash within `restart_window`, from
    `restart_backoff` up to `restart_backoff_max`. None: more than `max_restarts`
    crashes within the window, a crash loop (the caller stops the node).
    """
    crash_times.append(t)
    while crash_times and t - crash_times[0] > config.restart_window:
        crash_times.popleft()
    if len(crash_times) > config.max_restarts:
        return None
    delay: float = config.restart_backoff * 2 ** (len(crash_times) - 1)
    return min(delay, config.restart_backoff_max)
