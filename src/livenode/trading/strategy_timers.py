"""Timers and time alerts of a strategy, guarded like its handlers.

A mixin of `Strategy`. The clock may be shared by every strategy of the process,
so names are namespaced under the strategy id on the clock; the `TimeEvent` the
callback receives carries the name the strategy gave. Callbacks run through the
strategy's guard: their commands carry the event's `ts_init` as `ts_trigger`, and
an exception faults the strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from livenode.core.clock import Clock, TimeEvent
    from livenode.model.identifiers import StrategyId


class StrategyTimers:
    """`set_timer`, `set_time_alert`, `cancel_timer`, `timer_names` of a `Strategy`."""

    id: StrategyId
    clock: Clock | None
    _timers: set[str]

    if TYPE_CHECKING:
        # Provided by Strategy; declared only, so the mixin cannot shadow them.
        def _require_registered(self) -> None: ...

        def _dispatch(self, name: str, fn: Callable[[Any], object], event: Any) -> None: ...

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: Callable[[TimeEvent], object],
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
    ) -> None:
        """Call `callback(event)` every `interval_ns`, guarded like a handler.

        Names are per strategy (the clock may be shared; they are namespaced
        under the strategy id there); `event.name` is the name given here.
        """
        self._require_registered()
        assert self.clock is not None
        self.clock.set_timer(
            self._timer_key(name), interval_ns, self._timer_callback(name, callback),
            start_time_ns, stop_time_ns,
        )
        self._timers.add(name)

    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: Callable[[TimeEvent], object]
    ) -> None:
        """Call `callback(event)` once at `alert_time_ns`, guarded like a handler."""
        self._require_registered()
        assert self.clock is not None
        self.clock.set_time_alert(
            self._timer_key(name), alert_time_ns, self._timer_callback(name, callback)
        )
        self._timers.add(name)

    def cancel_timer(self, name: str) -> None:
        """Cancel one of this strategy's timers or alerts (unknown names are ignored)."""
        if self.clock is not None:
            self.clock.cancel_timer(self._timer_key(name))
        self._timers.discard(name)

    @property
    def timer_names(self) -> list[str]:
        """Names of this strategy's active timers and alerts."""
        if self.clock is None:
            return []
        active = set(self.clock.timer_names)
        return sorted(n for n in self._timers if self._timer_key(n) in active)

    def _timer_key(self, name: str) -> str:
        return f"{self.id}.{name}"

    def _timer_callback(
        self, name: str, callback: Callable[[TimeEvent], object]
    ) -> Callable[[TimeEvent], None]:
        def on_time(event: TimeEvent) -> None:
            self._dispatch(f"timer {name}", callback, msgspec.structs.replace(event, name=name))

        return on_time

    def _cancel_own_timers(self) -> None:
        for name in list(self._timers):
            self.cancel_timer(name)
