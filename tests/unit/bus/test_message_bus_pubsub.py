"""MessageBus publish/subscribe: wildcards, ordering, caching, error containment."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livenode.bus.message_bus import SHARED_STATE_PRIORITY, MessageBus, topic_matches
from livenode.core.clock import TestClock


@pytest.fixture
def bus() -> MessageBus:
    return MessageBus("TRADER-001", TestClock(0))


class Sink:
    def __init__(self, name: str = "sink", log: list[tuple[str, Any]] | None = None) -> None:
        self.name = name
        self.log = log if log is not None else []

    def __call__(self, msg: Any) -> None:
        self.log.append((self.name, msg))

    @property
    def msgs(self) -> list[Any]:
        return [m for n, m in self.log if n == self.name]


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("data.quotes.SIM.BTCUSDT", "data.quotes.SIM.BTCUSDT", True),
        ("data.quotes.SIM.BTCUSDT", "data.quotes.SIM.ETHUSDT", False),
        ("data.quotes.SIM.BTCUSDT", "data.quotes.SIM.BTCUSDT.X", False),
        ("data.quotes.*", "data.quotes.SIM.BTCUSDT", True),  # * spans dots
        ("data.quotes.*", "data.quotes.", True),  # * matches an empty run
        ("data.quotes.*", "data.quotes", False),  # ...but the literal dot is needed
        ("data.*.SIM.*", "data.trades.SIM.ETHUSDT", True),
        ("data.*.SIM.*", "data.trades.OTHER.ETHUSDT", False),
        ("*", "", True),
        ("*", "anything.at.all", True),
        ("**", "a.b", True),
        ("*.BTCUSDT", "data.quotes.SIM.BTCUSDT", True),
        ("*BTC*", "data.quotes.SIM.BTCUSDT", True),
        ("*BTC*", "data.quotes.SIM.ETHUSDT", False),
        ("events.order.?", "events.order.A", True),
        ("events.order.?", "events.order.AB", False),
        ("events.order.?", "events.order.", False),
        ("events.order.??", "events.order.AB", True),
        ("a?c", "a.c", True),  # ? matches a dot too
        ("?*", "", False),  # at least one char
        ("?*", "x", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "a-b-x-c", True),
        ("a*b*c", "acb", False),
        # regex metacharacters are literal
        ("data.bars.BTC-1-SECOND-MID", "data.bars.BTC-1-SECOND-MID", True),
        ("a+b", "aab", False),
        ("a+b", "a+b", True),
        ("a[1]", "a1", False),
        ("a[1]", "a[1]", True),
        ("x.(y)|z", "x.(y)|z", True),
        ("x.$", "x.$", True),
        ("a.b", "aXb", False),  # the dot is not a regex dot
        ("A.*", "a.b", False),  # case-sensitive
        ("line*", "line1\nline2", True),
    ],
)
def test_wildcard_matching_table(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected
    bus = MessageBus("TRADER-001", TestClock(0))
    sink = Sink()
    bus.subscribe(pattern, sink)
    bus.publish(topic, "m")
    assert (sink.msgs == ["m"]) is expected
    assert bus.has_subscribers(topic) is expected


def _reference_match(pattern: str, topic: str) -> bool:
    """Obvious recursive definition of the wildcard semantics."""
    if not pattern:
        return not topic
    head = pattern[0]
    if head == "*":
        return any(_reference_match(pattern[1:], topic[i:]) for i in range(len(topic) + 1))
    if not topic:
        return False
    if head == "?" or head == topic[0]:
        return _reference_match(pattern[1:], topic[1:])
    return False


@given(
    pattern=st.text(alphabet="ab.*?[+", max_size=8),
    topic=st.text(alphabet="ab.*?[+", max_size=8),
)
def test_matching_agrees_with_reference(pattern: str, topic: str) -> None:
    assert topic_matches(pattern, topic) is _reference_match(pattern, topic)


def test_priority_then_subscription_order(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    bus.subscribe("t.*", Sink("low-1", log), priority=-5)
    bus.subscribe("t.x", Sink("mid-1", log))
    bus.subscribe("*", Sink("high", log), priority=10)
    bus.subscribe("t.?", Sink("mid-2", log))
    bus.subscribe("t.x", Sink("low-2", log), priority=-5)
    bus.publish("t.x", 1)
    assert [n for n, _ in log] == ["high", "mid-1", "mid-2", "low-1", "low-2"]


def test_handler_matching_several_patterns_is_called_once(bus: MessageBus) -> None:
    sink = Sink()
    bus.subscribe("a.*", sink)
    bus.subscribe("a.b", sink, priority=3)
    bus.subscribe("a.b", sink)  # duplicate registration: ignored
    assert len(bus.subscriptions()) == 2
    bus.publish("a.b", 1)
    assert sink.msgs == [1]


def test_bound_methods_compare_equal(bus: MessageBus) -> None:
    class Strategy:
        def __init__(self) -> None:
            self.got: list[int] = []

        def on_quote(self, msg: int) -> None:
            self.got.append(msg)

    s = Strategy()
    bus.subscribe("q", s.on_quote)  # a fresh bound-method object each time
    bus.subscribe("q", s.on_quote)
    bus.publish("q", 1)
    bus.unsubscribe("q", s.on_quote)
    bus.publish("q", 2)
    assert s.got == [1]
    assert not bus.is_subscribed("q", s.on_quote)


def test_unsubscribe_only_that_pattern(bus: MessageBus) -> None:
    sink = Sink()
    bus.subscribe("a.*", sink)
    bus.subscribe("a.b", sink)
    bus.publish("a.b", 1)  # resolve and cache
    bus.unsubscribe("a.*", sink)
    bus.publish("a.b", 2)
    bus.publish("a.c", 3)
    bus.unsubscribe("a.b", sink)
    bus.unsubscribe("a.b", sink)  # unknown now: ignored
    bus.publish("a.b", 4)
    assert sink.msgs == [1, 2]


def test_resolution_cache_is_invalidated_on_subscribe(bus: MessageBus) -> None:
    early, late = Sink("early"), Sink("late")
    bus.subscribe("x.*", early)
    bus.publish("x.1", 1)
    assert not bus.has_subscribers("y")
    bus.subscribe("x.1", late, priority=1)
    bus.subscribe("y", late)
    bus.publish("x.1", 2)
    bus.publish("y", 3)
    assert early.msgs == [1, 2]
    assert late.msgs == [2, 3]
    assert bus.handlers_for("x.1") == (late, early)


def test_hot_path_does_not_re_resolve(bus: MessageBus, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = Sink()
    bus.subscribe("data.*", sink)
    bus.publish("data.q", 0)
    calls = 0
    original = bus._resolve

    def counting(topic: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(topic)

    monkeypatch.setattr(bus, "_resolve", counting)
    for i in range(100):
        bus.publish("data.q", i)
    assert calls == 0
    assert len(sink.msgs) == 101


def test_publish_without_subscribers_counts(bus: MessageBus) -> None:
    bus.publish("nobody", 1)
    assert bus.pub_count == 1
    assert bus.handler_errors == 0


def test_handler_errors_are_contained(bus: MessageBus, caplog: pytest.LogCaptureFixture) -> None:
    after = Sink("after")

    def broken(msg: Any) -> None:
        raise RuntimeError("kaput")

    bus.subscribe("t", broken, priority=1)
    bus.subscribe("t", after)
    bus.publish("t", 1)  # does not raise
    bus.publish("t", 2)
    assert after.msgs == [1, 2]
    assert bus.handler_errors == 2
    assert bus.pub_count == 2
    assert "kaput" in caplog.text and "'t'" in caplog.text and "broken" in caplog.text


def test_on_handler_error_hook(bus: MessageBus) -> None:
    failures: list[tuple[str, Any, BaseException]] = []
    bus.on_handler_error = lambda where, h, exc: failures.append((where, h, exc))

    class Strat:
        component_id = "EMACross-001"

        def on_bar(self, msg: Any) -> None:
            raise ValueError("bad bar")

    s = Strat()
    bus.subscribe("data.bars.*", s.on_bar)
    bus.publish("data.bars.X", 1)
    [(where, handler, exc)] = failures
    assert where == "data.bars.X"
    assert handler == s.on_bar and handler.__self__ is s
    assert isinstance(exc, ValueError)


def test_raising_hook_is_contained(bus: MessageBus) -> None:
    def hook(where: str, h: Any, exc: BaseException) -> None:
        raise RuntimeError("hook broken")

    bus.on_handler_error = hook
    bus.subscribe("t", lambda m: 1 / 0)
    bus.publish("t", 1)
    assert bus.handler_errors == 1


def test_subscribe_during_publish(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    late = Sink("late", log)

    def first(msg: Any) -> None:
        log.append(("first", msg))
        bus.subscribe("t", late)  # takes effect from the next publish

    bus.subscribe("t", first, priority=1)
    bus.subscribe("t", Sink("second", log))
    bus.publish("t", 1)
    bus.publish("t", 2)
    assert log == [("first", 1), ("second", 1), ("first", 2), ("second", 2), ("late", 2)]


def test_unsubscribe_during_publish(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    second = Sink("second", log)

    def first(msg: Any) -> None:
        log.append(("first", msg))
        bus.unsubscribe("t", first)
        bus.unsubscribe("t", second)

    bus.subscribe("t", first, priority=1)
    bus.subscribe("t", second)
    bus.subscribe("t", Sink("third", log))
    bus.publish("t", 1)
    bus.publish("t", 2)
    assert log == [("first", 1), ("second", 1), ("third", 1), ("third", 2)]


def test_nested_publish(bus: MessageBus) -> None:
    log: list[tuple[str, Any]] = []
    bus.subscribe("outer", lambda m: (log.append(("outer", m)), bus.publish("inner", m + 1)))
    bus.subscribe("inner", Sink("inner", log))
    bus.publish("outer", 1)
    assert log == [("outer", 1), ("inner", 2)]
    assert bus.pub_count == 2


def test_subscribe_validation(bus: MessageBus) -> None:
    with pytest.raises(ValueError):
        bus.subscribe("", Sink())
    with pytest.raises(TypeError):
        bus.subscribe("t", "not callable")  # type: ignore[arg-type]


def test_subscriptions_listing(bus: MessageBus) -> None:
    a, b = Sink("a"), Sink("b")
    bus.subscribe("x.*", a, priority=2)
    bus.subscribe("y", b)
    subs = bus.subscriptions()
    assert [(s.pattern, s.handler, s.priority) for s in subs] == [("x.*", a, 2), ("y", b, 0)]
    assert [s.handler for s in bus.subscriptions("y")] == [b]
    assert "x.*" in repr(subs[0])


def test_shared_state_writers_run_before_the_forwarder_and_the_rest_after(
    bus: MessageBus,
) -> None:
    """The forwarder (to other processes) goes first, for latency, except the writers
    of shared state: a peer reacting to the forwarded quote must find it written in
    shared memory (the risk worker values a market order at it)."""
    calls: list[str] = []
    bus.set_forwarder(lambda topic, msg: calls.append("forward"), ("data.",))
    bus.subscribe("data.quotes.*", lambda msg: calls.append("strategy"))
    bus.subscribe("data.quotes.*", lambda msg: calls.append("mirror"), 1000)
    bus.subscribe("data.quotes.*", lambda msg: calls.append("shm"), SHARED_STATE_PRIORITY)
    bus.publish("data.quotes.BTCUSDT.SIM", object())
    assert calls == ["shm", "forward", "mirror", "strategy"]
    calls.clear()
    bus.publish_local("data.quotes.BTCUSDT.SIM", object())  # from another process
    assert calls == ["shm", "mirror", "strategy"]
