"""The in-process message bus: pub/sub on topics, point-to-point endpoints, request/response.

Topics are dotted strings (see `livenode.bus.topics`). Subscriptions are
patterns in which `*` matches any run of characters (also dots, also none) and
`?` matches exactly one character; every other character is literal.

Delivery order for a topic is deterministic: higher `priority` first, then the
order of subscription. A handler subscribed through several patterns that all
match a topic is called once, at the highest of its priorities.

Hot path: the handlers of a topic are resolved once and kept in a dict
(topic -> tuple of handlers); publishing on a topic seen before is one dict
lookup plus the handler calls. Any subscribe/unsubscribe clears that dict.
Because a publish iterates over the resolved tuple, a handler that subscribes
or unsubscribes while being called cannot break the iteration: the change
applies from the next publish on.

A handler that raises is logged (with the topic or endpoint and the handler's
name), counted in `handler_errors` and reported to `on_handler_error` if set;
the exception never reaches the publisher or the other handlers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from livenode.core.clock import Clock
from livenode.core.errors import DuplicateEndpointError, EndpointNotFoundError

__all__ = ["Handler", "HandlerErrorHook", "MessageBus", "Subscription", "topic_matches"]

_log = logging.getLogger("livenode.bus")

# Handlers subscribed at this priority or above run before the message is forwarded
# to other processes (`set_forwarder`): they write state those processes read
# directly (shared memory), which must be written before anyone can react.
SHARED_STATE_PRIORITY = 2000  # above the mirrors (1000), which need not go first

Handler = Callable[[Any], object]
# (topic or endpoint, handler, exception) -> None
HandlerErrorHook = Callable[[str, Handler, BaseException], object]


def _compile(pattern: str) -> re.Pattern[str] | None:
    """Return a regex for a wildcard pattern, or None for a literal one (compared by ==)."""
    if "*" not in pattern and "?" not in pattern:
        return None
    parts: list[str] = []
    for char in pattern:
        if char == "*":
            if parts and parts[-1] == ".*":
                continue  # "**" means the same as "*"; keep the regex linear
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def topic_matches(pattern: str, topic: str) -> bool:
    """Return True if `topic` matches the wildcard `pattern` (`*` any run, `?` one char)."""
    regex = _compile(pattern)
    if regex is None:
        return pattern == topic
    return regex.fullmatch(topic) is not None


def _handler_name(handler: Handler) -> str:
    name = getattr(handler, "__qualname__", None) or repr(handler)
    owner = getattr(handler, "__self__", None)
    owner_id = getattr(owner, "component_id", None) or getattr(owner, "id", None)
    return f"{name}[{owner_id}]" if owner_id is not None else name


class Subscription:
    """One (pattern, handler, priority) registration; `seq` orders equal priorities."""

    __slots__ = ("_regex", "handler", "pattern", "priority", "seq")

    def __init__(self, pattern: str, handler: Handler, priority: int, seq: int) -> None:
        self.pattern = pattern
        self.handler = handler
        self.priority = priority
        self.seq = seq
        self._regex = _compile(pattern)

    def matches(self, topic: str) -> bool:
        """Return True if this subscription's pattern matches `topic`."""
        if self._regex is None:
            return self.pattern == topic
        return self._regex.fullmatch(topic) is not None

    def __repr__(self) -> str:
        return (
            f"Subscription({self.pattern!r}, {_handler_name(self.handler)}, "
            f"priority={self.priority})"
        )


class _PendingRequest:
    __slots__ = ("endpoint", "future", "timer")

    def __init__(
        self, future: asyncio.Future[Any], timer: asyncio.TimerHandle, endpoint: str
    ) -> None:
        self.future = future
        self.timer = timer
        self.endpoint = endpoint


class MessageBus:
    """Topics, endpoints and request/response inside one process.

    Args:
        trader_id: the trader this bus belongs to (kept for messages and logs).
        clock: the node's clock.

    Attributes:
        sent_count: messages given to `send` (delivered or not).
        pub_count: messages given to `publish`.
        req_count: requests made with `request`.
        res_count: responses given to `response`.
        handler_errors: handler calls that raised.
        dead_letters: messages sent to an endpoint nobody registered.
        on_handler_error: optional hook called with (topic or endpoint,
            handler, exception) after a handler raised; the trader uses it to
            fault the strategy that owns the handler.
    """

    def __init__(self, trader_id: Any, clock: Clock) -> None:
        self.trader_id = trader_id
        self._clock = clock
        self._subscriptions: list[Subscription] = []
        self._resolved: dict[str, tuple[Handler, ...]] = {}
        # Without the forwarder: for messages that came from another process.
        self._resolved_local: dict[str, tuple[Handler, ...]] = {}
        self._forward: Callable[[str, Any], None] | None = None
        self._forward_prefixes: tuple[str, ...] = ()
        self._endpoints: dict[str, Handler] = {}
        self._pending: dict[str, _PendingRequest] = {}
        self._dead_endpoints_logged: set[str] = set()
        self._seq = 0
        self.on_handler_error: HandlerErrorHook | None = None
        self.sent_count = 0
        self.pub_count = 0
        self.req_count = 0
        self.res_count = 0
        self.handler_errors = 0
        self.dead_letters = 0

    # -- pub/sub ----------------------------------------------------------------------------

    def subscribe(self, pattern: str, handler: Handler, priority: int = 0) -> None:
        """Call `handler(msg)` for every message published on a topic matching `pattern`.

        Subscribing the same handler to the same pattern again does nothing
        (the first priority stays).
        """
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"subscription pattern must be a non-empty str, got {pattern!r}")
        if not callable(handler):
            raise TypeError(f"handler {handler!r} is not callable")
        for sub in self._subscriptions:
            if sub.pattern == pattern and sub.handler == handler:
                return
        self._seq += 1
        self._subscriptions.append(Subscription(pattern, handler, int(priority), self._seq))
        self._clear_resolved()

    def unsubscribe(self, pattern: str, handler: Handler) -> None:
        """Remove the subscription of `handler` to exactly `pattern`; unknown ones are ignored."""
        for i, sub in enumerate(self._subscriptions):
            if sub.pattern == pattern and sub.handler == handler:
                del self._subscriptions[i]
                self._clear_resolved()
                return

    def is_subscribed(self, pattern: str, handler: Handler) -> bool:
        """Return True if `handler` is subscribed to exactly `pattern`."""
        return any(s.pattern == pattern and s.handler == handler for s in self._subscriptions)

    def subscriptions(self, pattern: str | None = None) -> list[Subscription]:
        """Return the subscriptions (to exactly `pattern` if given), in subscription order."""
        return [s for s in self._subscriptions if pattern is None or s.pattern == pattern]

    def has_subscribers(self, topic: str) -> bool:
        """Return True if a publish on `topic` would reach at least one handler."""
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        return bool(handlers)

    def handlers_for(self, topic: str) -> tuple[Handler, ...]:
        """Return the handlers a publish on `topic` calls, in call order."""
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        return handlers

    def publish(self, topic: str, msg: Any) -> None:
        """Deliver `msg` to every handler subscribed to a pattern matching `topic`."""
        self.pub_count += 1
        handlers = self._resolved.get(topic)
        if handlers is None:
            handlers = self._resolve(topic)
        for handler in handlers:
            try:
                handler(msg)
            except Exception as exc:
                self._handler_failed(topic, handler, exc)

    def publish_local(self, topic: str, msg: Any) -> None:
        """Deliver `msg` to this process's handlers only, never to the forwarder.

        For messages that arrived from another process: sending them back out
        would echo them around the bus.
        """
        self.pub_count += 1
        handlers = self._resolved_local.get(topic)
        if handlers is None:
            self._resolve(topic)
            handlers = self._resolved_local[topic]
        for handler in handlers:
            try:
                handler(msg)
            except Exception as exc:
                self._handler_failed(topic, handler, exc)

    def set_forwarder(
        self, forward: Callable[[str, Any], None] | None, prefixes: tuple[str, ...] = ()
    ) -> None:
        """Also hand every message published on a topic starting with one of
        `prefixes` to ``forward(topic, msg)``, before the local handlers (a prefix
        ending in ``"\\x00"`` matches exactly one topic, as on the ZeroMQ bus).

        The bridge to other processes uses this; the prefix test runs once per
        topic (resolution is cached), so publishing costs nothing more.
        """
        self._forward = forward
        self._forward_prefixes = tuple(prefixes) if forward is not None else ()
        self._clear_resolved()

    def _clear_resolved(self) -> None:
        self._resolved.clear()
        self._resolved_local.clear()

    def _resolve(self, topic: str) -> tuple[Handler, ...]:
        matching = [s for s in self._subscriptions if s.matches(topic)]
        matching.sort(key=lambda s: (-s.priority, s.seq))
        handlers: list[Handler] = []
        before_forward = 0  # how many of `handlers` run before the forwarder
        for sub in matching:
            # Linear == rather than a set: bound methods of unhashable owners must work.
            if not any(h == sub.handler for h in handlers):
                handlers.append(sub.handler)
                if sub.priority >= SHARED_STATE_PRIORITY:
                    before_forward = len(handlers)
        local = tuple(handlers)
        self._resolved_local[topic] = local
        forward = self._forward
        # Matched the way ZeroMQ matches a frame "topic NUL ...": a prefix ending
        # in NUL is one exact topic.
        if forward is not None and (topic + "\x00").startswith(self._forward_prefixes):

            def forward_topic(msg: Any, _topic: str = topic) -> None:
                forward(_topic, msg)

            # Forward first: the next process starts on the message while this one
            # runs its local handlers (measured: the next hop is the critical path).
            # Except the writers of shared state (SHARED_STATE_PRIORITY): a peer that
            # reacts to the message must find it written (the risk worker values a
            # trader's market order at the quote the trader saw).
            resolved = (*local[:before_forward], forward_topic, *local[before_forward:])
        else:
            resolved = local
        self._resolved[topic] = resolved
        return resolved

    # -- endpoints --------------------------------------------------------------------------

    def register(self, endpoint: str, handler: Handler) -> None:
        """Make `handler` the one receiver of messages sent to `endpoint`.

        Raises:
            DuplicateEndpointError: the endpoint already has a handler.
        """
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"endpoint must be a non-empty str, got {endpoint!r}")
        if not callable(handler):
            raise TypeError(f"handler {handler!r} is not callable")
        existing = self._endpoints.get(endpoint)
        if existing is not None:
            raise DuplicateEndpointError(
                f"endpoint {endpoint!r} is already registered to {_handler_name(existing)}"
            )
        self._endpoints[endpoint] = handler
        self._dead_endpoints_logged.discard(endpoint)

    def deregister(self, endpoint: str) -> bool:
        """Remove the endpoint; return False if it was not registered."""
        return self._endpoints.pop(endpoint, None) is not None

    def has_endpoint(self, endpoint: str) -> bool:
        """Return True if `endpoint` has a handler."""
        return endpoint in self._endpoints

    @property
    def endpoints(self) -> list[str]:
        """The registered endpoint names, sorted."""
        return sorted(self._endpoints)

    def send(self, endpoint: str, msg: Any) -> None:
        """Deliver `msg` to the handler of `endpoint`.

        An unknown endpoint is not an error for the sender: the message is
        counted in `dead_letters` and logged (a warning the first time per
        endpoint, then at debug level, so a misrouted stream cannot flood the log).
        """
        self.sent_count += 1
        handler = self._endpoints.get(endpoint)
        if handler is None:
            self._dead_letter(endpoint, msg)
            return
        try:
            handler(msg)
        except Exception as exc:
            self._handler_failed(endpoint, handler, exc)

    def _dead_letter(self, endpoint: str, msg: Any) -> None:
        self.dead_letters += 1
        if endpoint in self._dead_endpoints_logged:
            _log.debug("dead letter: no endpoint %r for %s", endpoint, type(msg).__name__)
        else:
            self._dead_endpoints_logged.add(endpoint)
            _log.warning("dead letter: no endpoint %r for %s", endpoint, type(msg).__name__)

    # -- request/response -------------------------------------------------------------------

    def request(self, endpoint: str, request: Any, timeout: float) -> asyncio.Future[Any]:
        """Send `request` to `endpoint`; return a future of its response.

        The future resolves when someone calls `response(msg)` with
        `msg.correlation_id == request.request_id`; it fails with
        `asyncio.TimeoutError` after `timeout` seconds, with
        `EndpointNotFoundError` at once if the endpoint is unknown, or with the
        handler's exception if the endpoint handler raises. In every case the
        pending request is removed; cancelling the future removes it too.
        Must be called with a running event loop.
        """
        loop = asyncio.get_running_loop()
        request_id = request.request_id
        if request_id in self._pending:
            raise ValueError(f"request {request_id!r} is already pending")
        self.req_count += 1
        future: asyncio.Future[Any] = loop.create_future()
        handler = self._endpoints.get(endpoint)
        if handler is None:
            self._dead_letter(endpoint, request)
            future.set_exception(
                EndpointNotFoundError(f"request {request_id!r}: no endpoint {endpoint!r}")
            )
            return future
        timer = loop.call_later(timeout, self._expire, request_id, timeout)
        # Registered before the handler runs: a handler may respond synchronously.
        self._pending[request_id] = _PendingRequest(future, timer, endpoint)
        future.add_done_callback(lambda _f: self._forget(request_id, future))
        try:
            handler(request)
        except Exception as exc:
            self._handler_failed(endpoint, handler, exc)
            self._forget(request_id, future)
            if not future.done():
                future.set_exception(exc)
        return future

    def response(self, msg: Any) -> None:
        """Resolve the pending request whose `request_id == msg.correlation_id`.

        A response nobody waits for (late, after a timeout, or unknown) is
        logged at debug level and dropped.
        """
        self.res_count += 1
        pending = self._pending.pop(msg.correlation_id, None)
        if pending is None:
            _log.debug("response %r: no pending request", msg.correlation_id)
            return
        pending.timer.cancel()
        if not pending.future.done():
            pending.future.set_result(msg)

    @property
    def pending_requests(self) -> int:
        """Number of requests waiting for a response."""
        return len(self._pending)

    def _expire(self, request_id: str, timeout: float) -> None:
        pending = self._pending.pop(request_id, None)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(
                TimeoutError(
                    f"request {request_id!r} to {pending.endpoint!r} timed out after {timeout}s"
                )
            )

    def _forget(self, request_id: str, future: asyncio.Future[Any]) -> None:
        pending = self._pending.get(request_id)
        if pending is not None and pending.future is future:
            del self._pending[request_id]
            pending.timer.cancel()

    # -- errors -----------------------------------------------------------------------------

    def _handler_failed(self, where: str, handler: Handler, exc: Exception) -> None:
        self.handler_errors += 1
        _log.error(
            "handler %s failed on %r: %r", _handler_name(handler), where, exc, exc_info=exc
        )
        hook = self.on_handler_error
        if hook is not None:
            try:
                hook(where, handler, exc)
            except Exception:
                _log.exception("on_handler_error hook failed for %r", where)

    def __repr__(self) -> str:
        return (
            f"MessageBus({self.trader_id}, subscriptions={len(self._subscriptions)}, "
            f"endpoints={len(self._endpoints)})"
        )
