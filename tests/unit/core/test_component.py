"""Component lifecycle FSM: valid and invalid transitions, hooks, published events."""

from __future__ import annotations

from typing import Any

import pytest

from livenode.bus.message_bus import MessageBus
from livenode.core.clock import TestClock
from livenode.core.component import Component, Publisher
from livenode.core.errors import InvalidComponentTransition
from livenode.model.enums import ComponentState as S
from livenode.model.events import ComponentStateChanged
from livenode.model.identifiers import ComponentId


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []

    def publish(self, topic: str, msg: Any) -> None:
        self.published.append((topic, msg))

    @property
    def states(self) -> list[S]:
        return [m.state for _, m in self.published]


class Engine(Component):
    def __init__(self, *args: Any, fail_on: str | None = None, **kwargs: Any) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on
        super().__init__(*args, **kwargs)

    def _hook(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_on:
            raise RuntimeError(f"{name} failed")

    def _on_start(self) -> None:
        assert self.state is S.STARTING  # hooks run in the intermediate state
        self._hook("start")

    def _on_resume(self) -> None:
        self._hook("resume")

    def _on_stop(self) -> None:
        assert self.state is S.STOPPING
        self._hook("stop")

    def _on_degrade(self) -> None:
        self._hook("degrade")

    def _on_recover(self) -> None:
        self._hook("recover")

    def _on_reset(self) -> None:
        self._hook("reset")

    def _on_dispose(self) -> None:
        self._hook("dispose")

    def _on_fault(self) -> None:
        self._hook("fault")


def make(fail_on: str | None = None) -> tuple[Engine, RecordingPublisher, TestClock]:
    clock = TestClock(1_000)
    pub = RecordingPublisher()
    return Engine("DataEngine", clock, pub, fail_on=fail_on), pub, clock


def test_construction_makes_ready_and_publishes() -> None:
    engine, pub, _ = make()
    assert engine.state is S.READY and engine.is_ready
    assert engine.component_id == "DataEngine"
    assert engine.component_type == "Engine"
    assert pub.states == [S.READY]
    assert isinstance(pub, Publisher)


def test_published_event_shape() -> None:
    engine, pub, clock = make()
    clock.set_time(5_000)
    engine.start()
    topic, event = pub.published[-1]
    assert topic == "events.component.DataEngine"
    assert isinstance(event, ComponentStateChanged)
    assert event.component_id == ComponentId("DataEngine")
    assert event.component_type == "Engine"
    assert event.state is S.RUNNING
    assert event.ts_event == event.ts_init == 5_000
    assert len(event.event_id) == 32
    ids = {m.event_id for _, m in pub.published}
    assert len(ids) == len(pub.published)


def test_full_lifecycle() -> None:
    engine, pub, _ = make()
    engine.start()
    assert engine.is_running
    engine.degrade()
    assert engine.is_degraded
    engine.recover()
    engine.stop()
    assert engine.is_stopped
    engine.resume()
    assert engine.is_running
    engine.stop()
    engine.reset()
    engine.dispose()
    assert engine.is_disposed
    assert engine.calls == [
        "start", "degrade", "recover", "stop", "resume", "stop", "reset", "dispose",
    ]
    assert pub.states == [
        S.READY,
        S.STARTING, S.RUNNING,
        S.DEGRADED,
        S.RUNNING,
        S.STOPPING, S.STOPPED,
        S.STARTING, S.RUNNING,
        S.STOPPING, S.STOPPED,
        S.READY,
        S.DISPOSED,
    ]


def test_stop_from_degraded() -> None:
    engine, _pub, _ = make()
    engine.start()
    engine.degrade()
    engine.stop()
    assert engine.is_stopped


@pytest.mark.parametrize(
    ("setup", "trigger"),
    [
        ([], "stop"),
        ([], "resume"),
        ([], "degrade"),
        ([], "recover"),
        (["start"], "start"),
        (["start"], "dispose"),
        (["start"], "reset"),
        (["start"], "resume"),
        (["start"], "recover"),
        (["start", "degrade"], "degrade"),
        (["start", "degrade"], "start"),
        (["start", "stop"], "start"),
        (["start", "stop"], "stop"),
        (["start", "stop"], "degrade"),
        (["dispose"], "start"),
        (["dispose"], "dispose"),
        (["dispose"], "reset"),
        (["dispose"], "fault"),
        (["fault"], "start"),
        (["fault"], "resume"),
        (["fault"], "reset"),
        (["fault"], "stop"),
    ],
)
def test_invalid_transitions_raise_and_keep_state(setup: list[str], trigger: str) -> None:
    engine, pub, _ = make()
    for step in setup:
        getattr(engine, step)()
    before, published = engine.state, len(pub.published)
    with pytest.raises(InvalidComponentTransition) as info:
        getattr(engine, trigger)()
    err = info.value
    assert err.component_id == "DataEngine"
    assert err.state is before
    assert err.trigger == trigger
    assert "DataEngine" in str(err) and before.name in str(err) and trigger in str(err)
    assert engine.state is before
    assert len(pub.published) == published


@pytest.mark.parametrize(
    "setup", [[], ["start"], ["start", "degrade"], ["start", "stop"]]
)
def test_fault_from_any_live_state(setup: list[str]) -> None:
    engine, pub, _ = make()
    for step in setup:
        getattr(engine, step)()
    engine.fault()
    assert engine.is_faulted
    assert engine.calls[-1] == "fault"
    assert pub.states[-1] is S.FAULTED
    engine.fault()  # idempotent: no second event
    assert pub.states.count(S.FAULTED) == 1
    engine.dispose()
    assert engine.is_disposed


@pytest.mark.parametrize(
    ("fail_on", "setup", "trigger", "last_states"),
    [
        ("start", [], "start", [S.STARTING, S.FAULTED]),
        ("resume", ["start", "stop"], "resume", [S.STARTING, S.FAULTED]),
        ("stop", ["start"], "stop", [S.STOPPING, S.FAULTED]),
        ("degrade", ["start"], "degrade", [S.RUNNING, S.FAULTED]),
        ("reset", [], "reset", [S.READY, S.FAULTED]),
        ("dispose", [], "dispose", [S.READY, S.FAULTED]),
    ],
)
def test_failing_hook_faults_and_propagates(
    fail_on: str, setup: list[str], trigger: str, last_states: list[S]
) -> None:
    engine, pub, _ = make(fail_on=fail_on)
    for step in setup:
        getattr(engine, step)()
    with pytest.raises(RuntimeError, match=f"{fail_on} failed"):
        getattr(engine, trigger)()
    assert engine.state is S.FAULTED
    assert pub.states[-2:] == last_states
    assert engine.calls[-1] == "fault"


def test_failing_fault_hook_still_faults() -> None:
    engine, _pub, _ = make(fail_on="fault")
    engine.start()
    engine.fault()  # the hook's error is logged, not raised
    assert engine.is_faulted


def test_without_publisher_and_set_publisher_later() -> None:
    clock = TestClock(0)
    engine = Engine("RiskEngine", clock)
    engine.start()
    assert engine.is_running
    pub = RecordingPublisher()
    engine.set_publisher(pub)
    engine.stop()
    assert pub.states == [S.STOPPING, S.STOPPED]
    assert all(t == "events.component.RiskEngine" for t, _ in pub.published)


def test_broken_publisher_does_not_wedge_fsm() -> None:
    class Broken:
        def publish(self, topic: str, msg: Any) -> None:
            raise OSError("bus down")

    engine = Engine("X", TestClock(0), Broken())
    engine.start()
    assert engine.is_running


def test_with_message_bus_and_custom_type() -> None:
    clock = TestClock(0)
    bus = MessageBus("TRADER-001", clock)
    got: list[ComponentStateChanged] = []
    bus.subscribe("events.component.*", got.append)
    comp = Component("EMACross-001", clock, bus, component_type="Strategy")
    comp.start()
    assert [e.state for e in got] == [S.READY, S.STARTING, S.RUNNING]
    assert {e.component_type for e in got} == {"Strategy"}
    assert repr(comp) == "Component(EMACross-001, RUNNING)"


@pytest.mark.parametrize("bad", ["", "has space", "tab\there"])
def test_bad_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Component(bad, TestClock(0))
