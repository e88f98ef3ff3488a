"""Routing by client id, with a default client per venue (ExecutionEngine)."""

from __future__ import annotations

import msgspec
import pytest

from livenode.bus import topics
from livenode.config import ExecEngineConfig
from livenode.core.uuid import new_id
from livenode.engines.clients import EXEC_ENGINE_PROCESS
from livenode.engines.execution_engine import ExecutionEngine
from livenode.model.commands import CancelAllOrders
from livenode.model.events import OrderAccepted, OrderCancelRejected, OrderDenied, OrderSubmitted
from livenode.model.identifiers import AccountId, ClientId, Venue

from .helpers import (
    IID,
    STRAT,
    T0,
    TRADER,
    RecordingExecClient,
    accepted,
    cancel,
    make_env,
    make_instrument,
    modify,
    order_init,
    submit,
    submitted,
)

OTHER_ACCOUNT = AccountId("SIM-002")


class Harness:
    def __init__(self) -> None:
        self.env = make_env()
        self.env.cache.add_instrument(make_instrument())
        self.default = RecordingExecClient()  # SIM-EXEC, account SIM-001
        self.second = RecordingExecClient(name="SIM-B", account_id=OTHER_ACCOUNT)
        self.engine = ExecutionEngine(
            self.env.msgbus, self.env.cache, self.env.clock, ExecEngineConfig())
        self.engine.register_client(self.default)
        self.engine.register_client(self.second, default=False)
        self.engine.start()
        self.order_events = self.env.record(topics.order_events(STRAT))

    def send(self, command: object) -> None:
        self.env.msgbus.publish(topics.exec_commands(Venue("SIM")), command)

    def event(self, event: object) -> None:
        self.env.msgbus.send(EXEC_ENGINE_PROCESS, event)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_a_command_without_client_id_goes_to_the_venues_default_client(h: Harness) -> None:
    cmd = submit(order_init())
    h.send(cmd)
    assert h.default.commands == [cmd] and h.second.commands == []
    assert h.engine.client(Venue("SIM")) is h.default
    assert h.engine.clients == [h.default, h.second]


def test_a_named_client_gets_the_order_and_its_modifies_and_cancels(h: Harness) -> None:
    init = order_init()
    cmd = msgspec.structs.replace(submit(init), client_id=ClientId("SIM-B"))
    h.send(cmd)
    assert h.second.commands == [cmd] and h.default.commands == []
    # The client answers for its own account: the order's later commands follow it.
    h.event(OrderSubmitted(**{**msgspec.structs.asdict(submitted(init)),
                              "account_id": OTHER_ACCOUNT}))
    h.event(OrderAccepted(**{**msgspec.structs.asdict(accepted(init)),
                             "account_id": OTHER_ACCOUNT}))
    m, c = modify(init.client_order_id, price="101.00"), cancel(init.client_order_id)
    h.send(m)
    h.send(c)
    assert h.second.commands == [cmd, m, c] and h.default.commands == []
    ca = CancelAllOrders(trader_id=TRADER, strategy_id=STRAT, command_id=new_id(), ts_init=T0,
                         ts_trigger=T0, instrument_id=IID, client_id=ClientId("SIM-B"))
    h.send(ca)
    assert h.second.commands[-1] is ca and h.default.commands == []


def test_an_unknown_client_id_denies_and_rejects_naming_it(h: Harness) -> None:
    init = order_init()
    h.send(msgspec.structs.replace(submit(init), client_id=ClientId("NOPE")))
    (denied,) = h.order_events
    assert type(denied) is OrderDenied
    assert denied.reason == "NO_EXEC_CLIENT: no execution client NOPE"
    assert h.engine.routing_errors == 1
    ok = order_init()
    h.send(submit(ok))
    h.event(submitted(ok))
    h.event(accepted(ok))
    h.send(msgspec.structs.replace(cancel(ok.client_order_id), client_id=ClientId("NOPE")))
    assert type(h.order_events[-1]) is OrderCancelRejected
    assert h.order_events[-1].reason == "NO_EXEC_CLIENT: no execution client NOPE"


def test_a_client_of_another_venue_is_refused(h: Harness) -> None:
    h.engine.register_client(RecordingExecClient(venue=Venue("XCH"), name="XCH",
                                                 account_id=AccountId("XCH-001")))
    init = order_init()
    h.send(msgspec.structs.replace(submit(init), client_id=ClientId("XCH")))
    assert h.order_events[-1].reason == (
        "NO_EXEC_CLIENT: execution client XCH serves venue XCH, not SIM")


def test_registration_names_and_defaults(h: Harness) -> None:
    with pytest.raises(ValueError, match="named SIM-B"):
        h.engine.register_client(RecordingExecClient(name="SIM-B"), default=False)
    with pytest.raises(ValueError, match="default=False"):
        h.engine.register_client(RecordingExecClient(name="SIM-C"))
    # The default leaves: the venue's next client takes its place.
    h.engine.deregister_client(h.default)
    assert h.engine.client(Venue("SIM")) is h.second and h.engine.clients == [h.second]
    h.engine.deregister_client(h.second)
    assert h.engine.registered_venues == [] and h.engine.clients == []


def test_commands_without_client_id_decode_as_before() -> None:
    from livenode.model.codec import decode, encode

    cmd = submit(order_init())
    assert cmd.client_id is None and decode(encode(cmd)) == cmd
    named = msgspec.structs.replace(cmd, client_id=ClientId("SIM-B"))
    assert decode(encode(named)) == named
