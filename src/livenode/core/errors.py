"""The exception hierarchy of livenode.

Every error raised on purpose by livenode derives from `LivenodeError`, so a
caller can catch "anything livenode refused". Where a builtin exception type is
the natural one for the caller to expect (a bad argument, a missing key) the
subclass also derives from it, so `except ValueError` keeps working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BusError",
    "CacheError",
    "DuplicateCacheEntryError",
    "DuplicateEndpointError",
    "EndpointNotFoundError",
    "InvalidComponentTransition",
    "LivenodeError",
    "TimerError",
]


class LivenodeError(Exception):
    """Base class of every error livenode raises on purpose."""


class InvalidComponentTransition(LivenodeError):
    """A lifecycle trigger that the component's current state does not allow.

    Attributes name the component, the state it was in and the trigger, so the
    log line alone tells what was attempted.
    """

    def __init__(self, component_id: str, state: Any, trigger: str) -> None:
        self.component_id = component_id
        self.state = state
        self.trigger = trigger
        state_name = getattr(state, "name", str(state))
        super().__init__(
            f"component {component_id!s}: invalid trigger {trigger!r} in state {state_name}"
        )


class TimerError(LivenodeError, ValueError):
    """A timer or time alert that cannot be set (duplicate name, bad interval, ...)."""


class BusError(LivenodeError):
    """Base class of message bus errors."""


class DuplicateEndpointError(BusError, ValueError):
    """An endpoint name that already has a handler."""


class EndpointNotFoundError(BusError, LookupError):
    """A request to an endpoint nobody registered."""


class CacheError(LivenodeError):
    """Base class of cache errors."""


class DuplicateCacheEntryError(CacheError, ValueError):
    """An entry added twice under the same key (e.g. a client order id)."""
