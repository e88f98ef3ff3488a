"""Read-your-writes: the risk engine judges a command on a position at least as new as
the one its sender saw (`position_version`), waiting for it up to `state_wait`, else
denying it STATE_BEHIND; a strategy's commands keep their order while one waits.

The engine here plays a risk worker: its cache is its own, moved by an
`ExecutionMirror` from the events the execution engine publishes, as in a
multiprocess node; the test decides when the fill reaches it."""

from __future__ import annotations

from typing import Any

import msgspec

from livenode.bus import topics
from livenode.config import RiskEngineConfig
from livenode.engines.execution_mirror import ExecutionMirror
from livenode.engines.risk_engine import RiskEngine
from livenode.model.accounts import CashAccount
from livenode.model.commands import SubmitOrder
from livenode.model.enums import OrderSide
from livenode.model.events import OrderDenied, OrderModifyRejected
from livenode.model.orders import Order
from livenode.model.position import Position

from .helpers import (
    SEC,
    SIM,
    accepted,
    account_state,
    cancel,
    filled,
    make_env,
    make_instrument,
    modify,
    order_init,
    quote,
    submit,
    submitted,
)


class RiskWorker:
    """A risk engine with its own cache and mirror, and recorders on its output."""

    def __init__(self, **config: Any) -> None:
        self.env = make_env()
        self.env.cache.add_instrument(make_instrument())
        self.env.cache.add_quote_tick(quote("100.00", "100.10"))
        self.env.cache.add_account(CashAccount(account_state()))
        self.mirror = ExecutionMirror(self.env.msgbus, self.env.cache, self.env.clock)
        self.out: list[Any] = []
        self.env.msgbus.subscribe(topics.exec_commands(SIM), self.out.append)
        self.engine = RiskEngine(self.env.msgbus, self.env.cache, self.env.clock,
                                 RiskEngineConfig(**config))
        self.engine.start()

    def send(self, command: Any) -> None:
        self.env.msgbus.publish(topics.RISK_COMMANDS, command)

    def hear(self, event: Any) -> None:
        """An event of the execution engine reaches this worker."""
        self.env.msgbus.publish(topics.order_events(event.strategy_id), event)

    def denials(self) -> list[Any]:
        return [m for m in self.out if type(m) in (OrderDenied, OrderModifyRejected)]

    def approved(self) -> list[Any]:
        return [m for m in self.out if type(m) not in (OrderDenied, OrderModifyRejected)]


def entry_filled(worker: RiskWorker) -> Any:
    """A BUY 1.000 the strategy's process has filled (version 1 there); the worker has
    the order, not yet the fill. Returns the fill event."""
    entry = order_init(qty="1.000", coid="ENTRY")
    order = Order(entry)
    order.apply(submitted(entry))
    order.apply(accepted(entry))
    worker.env.cache.add_order(order)
    return filled(entry, "1.000", "100.00", "T-1")


def stop_loss(version: int) -> SubmitOrder:
    """The reduce-only SELL its strategy places in on_order_filled, decided at `version`."""
    command = submit(order_init(side=OrderSide.SELL, qty="1.000", reduce_only=True))
    return msgspec.structs.replace(command, position_version=version)


def test_a_command_waits_for_the_fill_its_sender_saw_then_is_judged_on_it() -> None:
    worker = RiskWorker()
    fill = entry_filled(worker)
    stop = stop_loss(version=1)
    worker.send(stop)
    # Without the wait, risk would deny it against a flat position.
    assert worker.out == [] and worker.engine.counters()["waiting_for_state"] == 1
    worker.hear(fill)
    assert worker.approved() == [stop] and worker.denials() == []
    counters = worker.engine.counters()
    assert counters["state_waits"] == 1 and counters["waiting_for_state"] == 0
    assert counters.get("denied.REDUCE_ONLY_WOULD_INCREASE", 0) == 0


def test_a_command_whose_state_does_not_come_is_denied_state_behind_naming_both() -> None:
    worker = RiskWorker(state_wait=0.25)
    entry_filled(worker)
    worker.send(stop_loss(version=1))
    worker.env.clock.advance_time(SEC // 5)
    assert worker.out == []
    worker.env.clock.advance_time(SEC // 10)
    (denial,) = worker.denials()
    assert denial.reason.startswith("STATE_BEHIND: position BTCUSDT.SIM-S-001 is at "
                                    "version 0 here, the command was decided at version 1")
    assert worker.engine.counters()["denied.STATE_BEHIND"] == 1
    assert worker.approved() == []


def test_a_strategys_later_commands_wait_behind_its_waiting_one_in_order() -> None:
    worker = RiskWorker()
    fill = entry_filled(worker)
    stop = stop_loss(version=1)
    worker.send(stop)
    drop = cancel(stop.order.client_order_id)
    worker.send(drop)  # a cancel must not overtake the submit it cancels
    other = order_init(qty="0.500", strategy_id=stop.strategy_id)
    worker.send(submit(other))
    assert worker.out == []
    worker.hear(fill)
    assert [type(m).__name__ for m in worker.out] == ["SubmitOrder", "CancelOrder",
                                                      "SubmitOrder"]
    assert worker.out[0] == stop and worker.out[1] == drop


def test_another_strategys_commands_do_not_wait() -> None:
    from livenode.model.identifiers import StrategyId

    worker = RiskWorker()
    entry_filled(worker)
    worker.send(stop_loss(version=1))
    free = submit(order_init(qty="0.500", strategy_id=StrategyId("S-002")))
    worker.send(free)
    assert worker.approved() == [free]


def test_a_modify_waits_too_and_a_command_without_a_version_never_does() -> None:
    worker = RiskWorker()
    fill = entry_filled(worker)
    resting = order_init(side=OrderSide.SELL, qty="1.000", price="110.00", coid="TP")
    order = Order(resting)
    order.apply(submitted(resting))
    order.apply(accepted(resting, vid="V-2"))
    worker.env.cache.add_order(order)
    change = msgspec.structs.replace(modify(order.client_order_id, price="111.00"),
                                     position_version=1)
    worker.send(change)
    assert worker.out == []
    worker.hear(fill)
    assert worker.approved() == [change]
    plain = submit(order_init(qty="0.100"))
    worker.send(plain)
    assert worker.out[-1] == plain


def test_a_position_the_worker_rebuilt_from_a_snapshot_has_the_senders_version() -> None:
    """A restarted risk worker recovers positions from the execution engine's
    snapshots: their version is the engine's, the one the strategies compare with."""
    worker = RiskWorker()
    entry = order_init(qty="1.000")
    position = Position(make_instrument(), filled(entry, "1.000", "100.00", "T-1"))
    position.apply(filled(entry, "0.500", "100.00", "T-2"))
    snapshot = position.snapshot_event()
    assert snapshot.version == 2
    worker.env.msgbus.publish(topics.position_events(snapshot.strategy_id), snapshot)
    recovered = worker.env.cache.position(snapshot.position_id)
    assert recovered is not None and recovered.version == 2
    stop = stop_loss(version=2)
    worker.send(stop)
    assert worker.approved() == [stop]


def test_a_submit_waits_for_the_account_state_its_sender_saw() -> None:
    """The balance check (INSUFFICIENT_FREE_BALANCE) reads the account: a submit decided
    on a newer account state than this worker's waits for it, or is denied naming both."""
    worker = RiskWorker(state_wait=0.25)
    account = worker.env.cache.account_for_venue(SIM)
    assert account is not None and account.version == 1
    buy = msgspec.structs.replace(submit(order_init(qty="0.100")), account_version=2)
    worker.send(buy)
    assert worker.out == []
    # The execution engine's next state (its version 2) reaches this worker.
    newer = msgspec.structs.replace(account_state(usdt_free="50000"), version=2)
    worker.env.msgbus.publish(topics.account_events(newer.account_id), newer)
    assert worker.approved() == [buy] and account.version == 2
    late = msgspec.structs.replace(submit(order_init(qty="0.100")), account_version=3)
    worker.send(late)
    worker.env.clock.advance_time(SEC // 2)
    (denial,) = worker.denials()
    assert denial.reason.startswith("STATE_BEHIND: the SIM account is at version 2 here, "
                                    "the command was decided at version 3")


def test_a_restarted_worker_gets_the_accounts_version_with_its_replayed_state() -> None:
    """The execution engine stamps each account state before it applies it, so the
    last state it replays to a restarted worker carries the version the strategies
    saw; a worker that started from it judges their submits at once."""
    from livenode.config import ExecEngineConfig
    from livenode.engines.execution_engine import ExecutionEngine
    from livenode.engines.peer_recovery import publish_account_states

    exec_side = make_env()
    engine = ExecutionEngine(exec_side.msgbus, exec_side.cache, exec_side.clock,
                             ExecEngineConfig())
    for free in ("1000", "900", "800"):
        engine.process(account_state(usdt_free=free))
    (account,) = exec_side.cache.accounts()
    assert account.version == 3 and account.last_event.version == 3
    replayed: list[Any] = []
    exec_side.msgbus.subscribe(topics.ALL_ACCOUNT_EVENTS, replayed.append)
    publish_account_states(exec_side.cache, exec_side.msgbus)
    worker = RiskWorker()
    worker.env.msgbus.publish(topics.account_events(replayed[0].account_id), replayed[0])
    assert worker.env.cache.account_for_venue(SIM).version == 3  # type: ignore[union-attr]
    buy = msgspec.structs.replace(submit(order_init(qty="0.100")), account_version=3)
    worker.send(buy)
    assert worker.approved() == [buy]
