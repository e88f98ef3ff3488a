"""Bounded logging of a repeated event: the first lines, then a summary per interval.

A fault that repeats (a peer sending malformed frames, a strategy whose orders are
denied on every tick) must not bury the log: `LogLimiter` writes the first `first`
lines of each kind as they come, then at most one line per `interval` seconds per
kind, saying how many were held back since its last line. Counting stays with the
caller (counters, status); this only decides what reaches the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LogLimiter"]


class LogLimiter:
    """Rate-limits the lines of each kind written to `logger` (see the module doc).

    Args:
        logger: where the lines go.
        first: lines of a kind written in full before the limit applies.
        interval: seconds between two lines of a kind after that.
        now: the monotonic clock (injected by tests).
    """

    def __init__(
        self,
        logger: logging.Logger,
        first: int = 10,
        interval: float = 60.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._first = first
        self._interval = interval
        self._now = now
        # kind -> [lines seen, held back since the last written, time of the last written]
        self._kinds: dict[str, list[Any]] = {}

    def log(self, level: int, kind: str, msg: str, *args: Any) -> bool:
        """Write `msg % args` at `level` unless this kind is over its limit; True if
        written. A line after held-back ones says how many were held back."""
        now = self._now()
        state = self._kinds.get(kind)
        if state is None:
            state = self._kinds[kind] = [0, 0, now]
        state[0] += 1
        if state[0] > self._first and now - state[2] < self._interval:
            state[1] += 1
            return False
        held, last = state[1], state[2]
        state[1], state[2] = 0, now
        if held:
            msg = f"{msg} (and {held} more like it held back over {now - last:.0f}s)"
        elif state[0] == self._first:
            msg = (f"{msg} (the {self._first}th of its kind: from now on at most one line "
                   f"per {self._interval:g}s)")
        if self._logger.isEnabledFor(level):
            self._logger.log(level, msg, *args)
        return True

    def seen(self, kind: str) -> int:
        """How many events of `kind` were offered (written or held back)."""
        state = self._kinds.get(kind)
        return 0 if state is None else int(state[0])
