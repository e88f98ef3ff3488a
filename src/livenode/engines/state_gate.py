"""Read-your-writes for commands: judge a command on state at least as new as its
sender's.

In a multiprocess node a strategy (trader worker) and the risk engine (risk worker)
each apply the execution engine's events to their own cache, over different
connections. A strategy that places a reduce-only stop in `on_order_filled` sends it
the moment its own cache has the fill; the risk worker may not have applied that fill
yet, and would judge the stop against the position before it (and deny it). So every
`SubmitOrder` and `ModifyOrder` carries the version of the strategy's position its
sender had seen (`position_version`, see `Position.version`), and a submit the version
of the venue's account (`account_version`, `Account.version`: the balance it is checked
against); `StateGate` holds such a command until this process's state is at least that
new, then hands it to the judge. Past `wait` seconds it is denied with
`STATE_BEHIND`, naming both versions, never judged on the older state.

A strategy's commands stay in order: while one of its commands waits, its next ones
(cancels included) queue behind it, so a cancel never overtakes the submit it cancels.
In one process (the strategy and risk share the cache) nothing ever waits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from livenode.bus import topics
from livenode.engines.risk_checks import STATE_BEHIND
from livenode.model.commands import ModifyOrder, SubmitOrder
from livenode.model.position import netting_position_id

if TYPE_CHECKING:
    from livenode.bus.message_bus import MessageBus
    from livenode.cache.cache import Cache
    from livenode.core.clock import Clock
    from livenode.model.identifiers import StrategyId

__all__ = ["StateGate"]

_TIMER = "StateGate.wait"


class StateGate:
    """Holds each strategy's commands until the state they were decided on is here.

    Args:
        msgbus: listened to (order, position and account events) while a command waits.
        cache: the process's cache, whose positions the versions are compared with.
        clock: the wait's timer.
        wait: the longest a command waits, in seconds (0: never waits; a command
            whose state is behind is denied at once).
        judge: called with each command whose state is here (in each strategy's
            order).
        deny: called with a command, and the reason, whose state did not arrive in
            time.
    """

    def __init__(
        self,
        msgbus: MessageBus,
        cache: Cache,
        clock: Clock,
        wait: float,
        judge: Callable[[Any], None],
        deny: Callable[[Any, str], None],
    ) -> None:
        self._msgbus = msgbus
        self._cache = cache
        self._clock = clock
        self._wait_ns = int(wait * 1e9)
        self._wait = wait
        self._judge = judge
        self._deny = deny
        # Per strategy: its commands waiting, in arrival order, each with its deadline.
        self._queues: dict[StrategyId, deque[tuple[Any, int]]] = {}
        self.waited = 0
        self.behind = 0
        self._draining = False

    @property
    def waiting(self) -> int:
        """Commands held right now."""
        return sum(len(q) for q in self._queues.values())

    def admit(self, command: Any) -> None:
        """Judge `command` now if its state is here and none of its strategy's waits;
        else hold it (see the module doc)."""
        strategy_id = command.strategy_id
        queue = self._queues.get(strategy_id)
        if queue is None:
            if self.lag(command) is None:
                self._judge(command)
                return
            if not self._queues:
                self._listen(True)
            queue = self._queues[strategy_id] = deque()
        self.waited += 1
        queue.append((command, self._clock.timestamp_ns() + self._wait_ns))
        self._drain(strategy_id)

    def on_state(self, _event: Any = None) -> None:
        """The process applied an event (a fill moves a position): release what waited
        for it."""
        if self._queues and not self._draining:
            for strategy_id in list(self._queues):
                if strategy_id in self._queues:
                    self._drain(strategy_id)

    def lag(self, command: Any) -> str | None:
        """None when this process's state is as new as `command`'s sender's, else why not."""
        kind = type(command)
        if kind is not SubmitOrder and kind is not ModifyOrder:
            return None
        want = command.position_version
        if want:
            position_id = (command.position_id if kind is SubmitOrder else None) or \
                netting_position_id(command.instrument_id, command.strategy_id)
            position = self._cache.position(position_id)
            have = 0 if position is None else position.version
            if have < want:
                return (f"{STATE_BEHIND}: position {position_id} is at version {have} here, "
                        f"the command was decided at version {want} (waited {self._wait:g}s)")
        want = command.account_version if kind is SubmitOrder else 0
        if want:
            account = self._cache.account_for_venue(command.instrument_id.venue)
            have = 0 if account is None else account.version
            if have < want:
                return (f"{STATE_BEHIND}: the {command.instrument_id.venue} account is at "
                        f"version {have} here, the command was decided at version {want} "
                        f"(waited {self._wait:g}s)")
        return None

    def _drain(self, strategy_id: StrategyId) -> None:
        # Judging forwards a command; in one process that can apply events at once,
        # which must not re-enter this loop (`on_state` is a no-op meanwhile).
        self._draining = True
        try:
            queue = self._queues[strategy_id]
            now = self._clock.timestamp_ns()
            while queue:
                command, deadline = queue[0]
                reason = self.lag(command)
                if reason is not None and now < deadline:
                    self._arm(strategy_id, deadline)
                    return
                queue.popleft()
                if reason is None:
                    self._judge(command)
                else:
                    self.behind += 1
                    self._deny(command, reason)
            del self._queues[strategy_id]
            self._clock.cancel_timer(f"{_TIMER}.{strategy_id}")
            if not self._queues:
                self._listen(False)
        finally:
            self._draining = False

    def _arm(self, strategy_id: StrategyId, deadline: int) -> None:
        name = f"{_TIMER}.{strategy_id}"
        self._clock.cancel_timer(name)
        self._clock.set_time_alert(name, deadline, lambda _e: self._expired(strategy_id))

    def _expired(self, strategy_id: StrategyId) -> None:
        if strategy_id in self._queues:
            self._drain(strategy_id)

    def _listen(self, on: bool) -> None:
        # Only while something waits: the events' path pays nothing otherwise. After
        # the mirror (a higher priority), so the state is applied when this runs.
        for pattern in (topics.ALL_ORDER_EVENTS, topics.ALL_POSITION_EVENTS,
                        topics.ALL_ACCOUNT_EVENTS):
            if on:
                self._msgbus.subscribe(pattern, self.on_state)
            else:
                self._msgbus.unsubscribe(pattern, self.on_state)

    def close(self) -> None:
        """Cancel the timers (the engine is disposed; what waits is dropped)."""
        for strategy_id in self._queues:
            self._clock.cancel_timer(f"{_TIMER}.{strategy_id}")
        if self._queues:
            self._listen(False)
        self._queues.clear()
