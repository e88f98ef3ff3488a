"""The component lifecycle: one finite state machine for engines, clients, strategies.

States are `livenode.model.enums.ComponentState`. Triggers and the transitions
they cause::

    (construction)  PRE_INITIALIZED -> READY
    start()         READY -> STARTING -> RUNNING
    resume()        STOPPED -> STARTING -> RUNNING
    stop()          RUNNING | DEGRADED -> STOPPING -> STOPPED
    degrade()       RUNNING -> DEGRADED
    recover()       DEGRADED -> RUNNING
    reset()         READY | STOPPED -> READY
    fault()         any but DISPOSED -> FAULTED (a no-op when already FAULTED)
    dispose()       READY | STOPPED | FAULTED -> DISPOSED

Each trigger calls its hook (`_on_start`, `_on_stop`, ...) between the
intermediate and the final state. A hook that raises sends the component to
FAULTED and the error propagates to the caller. Any other trigger raises
`InvalidComponentTransition` without touching the state.

Every state change is published as a `ComponentStateChanged` on
`events.component.{component_id}` through the `Publisher` given (the message
bus, typically), so the node, the supervisor and `livenode status` follow it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from livenode.core.clock import Clock
from livenode.core.errors import InvalidComponentTransition
from livenode.core.uuid import new_id
from livenode.model.enums import ComponentState
from livenode.model.events import ComponentStateChanged
from livenode.model.identifiers import ComponentId

__all__ = ["COMPONENT_TOPIC_PREFIX", "Component", "Publisher"]

COMPONENT_TOPIC_PREFIX = "events.component."

_S = ComponentState


@runtime_checkable
class Publisher(Protocol):
    """Anything with `publish(topic, msg)`: the message bus or a test double."""

    def publish(self, topic: str, msg: Any) -> None:
        """Deliver `msg` to the subscribers of `topic`."""
        ...


# trigger -> (states it is allowed from, intermediate state or None, final state)
_TRIGGERS: dict[str, tuple[frozenset[ComponentState], ComponentState | None, ComponentState]] = {
    "start": (frozenset({_S.READY}), _S.STARTING, _S.RUNNING),
    "resume": (frozenset({_S.STOPPED}), _S.STARTING, _S.RUNNING),
    "stop": (frozenset({_S.RUNNING, _S.DEGRADED}), _S.STOPPING, _S.STOPPED),
    "degrade": (frozenset({_S.RUNNING}), None, _S.DEGRADED),
    "recover": (frozenset({_S.DEGRADED}), None, _S.RUNNING),
    "reset": (frozenset({_S.READY, _S.STOPPED}), None, _S.READY),
    "dispose": (frozenset({_S.READY, _S.STOPPED, _S.FAULTED}), None, _S.DISPOSED),
}


class Component:
    """Base class of everything with a lifecycle.

    Subclasses override the `_on_*` hooks they need; the defaults do nothing.

    Args:
        component_id: unique within the node (used in the topic and in errors);
            a `ComponentId` value: non-empty, no whitespace (ValueError otherwise).
        clock: timestamps the state-change events.
        publisher: receives every `ComponentStateChanged`; may be set later
            with `set_publisher` (e.g. when a trader registers a strategy).
        component_type: reported in the events; the class name when None.
    """

    def __init__(
        self,
        component_id: str,
        clock: Clock,
        publisher: Publisher | None = None,
        component_type: str | None = None,
    ) -> None:
        # Validated once here (non-empty, no whitespace: it ends up in topics),
        # and reused in every event instead of being converted per transition.
        self._id = ComponentId(str(component_id))
        self._component_id = self._id.value
        self._component_type = component_type or type(self).__name__
        self._clock = clock
        self._publisher = publisher
        self._topic = COMPONENT_TOPIC_PREFIX + self._component_id
        self._state = ComponentState.PRE_INITIALIZED
        self._component_log = logging.getLogger(f"livenode.component.{self._component_id}")
        self._set_state(ComponentState.READY)

    # -- identity and state ----------------------------------------------------------------

    @property
    def component_id(self) -> str:
        """The id given at construction."""
        return self._component_id

    @property
    def component_type(self) -> str:
        """The type name reported in state-change events."""
        return self._component_type

    @property
    def state(self) -> ComponentState:
        """The current lifecycle state."""
        return self._state

    @property
    def is_ready(self) -> bool:
        return self._state is ComponentState.READY

    @property
    def is_running(self) -> bool:
        return self._state is ComponentState.RUNNING

    @property
    def is_degraded(self) -> bool:
        return self._state is ComponentState.DEGRADED

    @property
    def is_stopped(self) -> bool:
        return self._state is ComponentState.STOPPED

    @property
    def is_faulted(self) -> bool:
        return self._state is ComponentState.FAULTED

    @property
    def is_disposed(self) -> bool:
        return self._state is ComponentState.DISPOSED

    def set_publisher(self, publisher: Publisher | None) -> None:
        """Set (or clear) where state changes are published from now on."""
        self._publisher = publisher

    # -- triggers ---------------------------------------------------------------------------

    def start(self) -> None:
        """READY -> STARTING -> RUNNING, calling `_on_start`."""
        self._trigger("start", self._on_start)

    def resume(self) -> None:
        """STOPPED -> STARTING -> RUNNING, calling `_on_resume`."""
        self._trigger("resume", self._on_resume)

    def stop(self) -> None:
        """RUNNING or DEGRADED -> STOPPING -> STOPPED, calling `_on_stop`."""
        self._trigger("stop", self._on_stop)

    def degrade(self) -> None:
        """RUNNING -> DEGRADED, calling `_on_degrade`."""
        self._trigger("degrade", self._on_degrade)

    def recover(self) -> None:
        """DEGRADED -> RUNNING, calling `_on_recover`."""
        self._trigger("recover", self._on_recover)

    def reset(self) -> None:
        """READY or STOPPED -> READY, calling `_on_reset`."""
        self._trigger("reset", self._on_reset)

    def dispose(self) -> None:
        """READY, STOPPED or FAULTED -> DISPOSED, calling `_on_dispose`."""
        self._trigger("dispose", self._on_dispose)

    def fault(self) -> None:
        """Any state but DISPOSED -> FAULTED, calling `_on_fault`.

        Faulting a FAULTED component does nothing: several failures may be
        reported for one fault and the second report is not an error.
        """
        if self._state is ComponentState.FAULTED:
            return
        if self._state is ComponentState.DISPOSED:
            raise InvalidComponentTransition(self._component_id, self._state, "fault")
        self._set_state(ComponentState.FAULTED)
        try:
            self._on_fault()
        except Exception:
            # Already FAULTED; the hook failing must not hide the original fault.
            self._component_log.exception("%s: _on_fault raised", self._component_id)

    # -- hooks for subclasses ---------------------------------------------------------------

    def _on_start(self) -> None:
        """Called while STARTING (from `start`)."""

    def _on_resume(self) -> None:
        """Called while STARTING (from `resume`)."""

    def _on_stop(self) -> None:
        """Called while STOPPING."""

    def _on_degrade(self) -> None:
        """Called on entering DEGRADED."""

    def _on_recover(self) -> None:
        """Called on leaving DEGRADED for RUNNING."""

    def _on_reset(self) -> None:
        """Called on reset; clear state kept between runs here."""

    def _on_dispose(self) -> None:
        """Called on dispose; release resources here."""

    def _on_fault(self) -> None:
        """Called after entering FAULTED."""

    # -- internals --------------------------------------------------------------------------

    def _trigger(self, trigger: str, hook: Callable[[], None]) -> None:
        allowed, intermediate, final = _TRIGGERS[trigger]
        if self._state not in allowed:
            raise InvalidComponentTransition(self._component_id, self._state, trigger)
        if intermediate is not None:
            self._set_state(intermediate)
        try:
            hook()
        except BaseException:
            self._component_log.error(
                "%s: %s failed, component FAULTED", self._component_id, trigger
            )
            self.fault()
            raise
        self._set_state(final)

    def _set_state(self, state: ComponentState) -> None:
        self._state = state
        publisher = self._publisher
        if publisher is None:
            return
        now = self._clock.timestamp_ns()
        event = ComponentStateChanged(
            component_id=self._id,
            component_type=self._component_type,
            state=state,
            event_id=new_id(),
            ts_event=now,
            ts_init=now,
        )
        try:
            publisher.publish(self._topic, event)
        except Exception:
            # Publishing is a notification; a broken publisher must not wedge the FSM.
            self._component_log.exception(
                "%s: publishing state %s failed", self._component_id, state
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._component_id}, {self._state.name})"
