"""Control commands as a table: each message type has one handler, registered by type.

The supervisor and every worker read their control channel through one of these
instead of an if/elif over message types (the way circus maps its commands and its
signals to one set of handlers). A signal becomes the same command a client would
send (`livenode stop` and SIGTERM both dispatch a `StopRequest`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from livenode.core.log_limiter import LogLimiter

__all__ = ["CommandTable"]

Sender = TypeVar("Sender")
_log = logging.getLogger("livenode.bus.commands")


class CommandTable(Generic[Sender]):
    """Handlers by message type. `Sender` is who a command comes from (a peer's
    identity on a ROUTER, the supervisor's b"" on a DEALER)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._handlers: dict[type, Callable[[Sender, Any], None]] = {}
        self._unknown = LogLimiter(_log)
        self.unknown = 0

    def register(self, kind: type, handler: Callable[[Sender, Any], None]) -> None:
        """Handle messages of exactly `kind` with `handler(sender, msg)`."""
        if kind in self._handlers:
            raise ValueError(f"{self.owner}: {kind.__name__} already has a handler")
        self._handlers[kind] = handler

    def ignore(self, *kinds: type) -> None:
        """Accept these message types and do nothing with them (acknowledgements)."""
        for kind in kinds:
            self.register(kind, _nothing)

    def dispatch(self, sender: Sender, msg: Any) -> None:
        """Run the handler of `msg`'s type; a type without one is counted and logged
        (rate-limited: a peer sending a flood of them cannot flood the log)."""
        handler = self._handlers.get(type(msg))
        if handler is None:
            self.unknown += 1
            self._unknown.log(
                logging.WARNING, "unexpected", "%s: no handler for control message %s from %r",
                self.owner, type(msg).__name__, sender)
            return
        handler(sender, msg)

    @property
    def kinds(self) -> frozenset[type]:
        return frozenset(self._handlers)


def _nothing(sender: Any, msg: Any) -> None:
    del sender, msg
