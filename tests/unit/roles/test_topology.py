"""Topology derivation, validation messages and the bus wiring it implies."""

from __future__ import annotations

import re

import pytest

from livenode.config.workers import WorkerConfig
from livenode.roles.topology import (
    Members,
    TopologyError,
    derive_workers,
    subscriptions,
    validate_topology,
)

MEMBERS = Members(
    data_clients=("SIM",), exec_clients=("SIM",), strategies=("EMACross-001", "MarketMaker-001")
)


def worker(name: str, role: str, members: list[str] | None = None) -> WorkerConfig:
    return WorkerConfig(name=name, role=role, members=members or [])  # type: ignore[arg-type]


def test_derived_topology_is_valid_and_complete() -> None:
    workers = derive_workers(MEMBERS)
    validate_topology(workers, MEMBERS)
    assert [(w.name, w.role, w.members) for w in workers] == [
        ("data-SIM", "data", ["SIM"]),
        ("trader", "trader", ["EMACross-001", "MarketMaker-001"]),
        ("risk", "risk", []),
        ("exec-SIM", "exec", ["SIM"]),
    ]


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        (
            [worker("d", "data", ["SIM"]), worker("r", "risk"), worker("e", "exec", ["SIM"])],
            "strategy 'EMACross-001' is placed on no worker",
        ),
        (
            [
                worker("d", "data", ["SIM"]),
                worker("t1", "trader", ["EMACross-001", "MarketMaker-001"]),
                worker("t2", "trader", ["EMACross-001"]),
                worker("r", "risk"),
                worker("e", "exec", ["SIM"]),
            ],
            "strategy 'EMACross-001' is already placed on worker 't1'",
        ),
        (
            [
                worker("d", "data", ["SIM", "EMACross-001"]),
                worker("t", "trader", ["EMACross-001", "MarketMaker-001"]),
                worker("r", "risk"),
                worker("e", "exec", ["SIM"]),
            ],
            "workers[0] (d).members: 'EMACross-001' is a strategy; "
            "a data worker hosts data clients",
        ),
        (
            [
                worker("d", "data", ["SIM"]),
                worker("t", "trader", ["EMACross-001", "MarketMaker-001", "Nope-1"]),
                worker("r", "risk"),
                worker("e", "exec", ["SIM"]),
            ],
            "'Nope-1' is not a configured strategy",
        ),
        (
            [
                worker("d", "data", ["SIM"]),
                worker("t", "trader", ["EMACross-001", "MarketMaker-001"]),
                worker("r", "risk", ["SIM"]),
                worker("e", "exec", ["SIM"]),
            ],
            "a risk worker hosts no members",
        ),
        (
            [
                worker("d", "data", ["SIM"]),
                worker("t", "trader", ["EMACross-001", "MarketMaker-001"]),
                worker("e", "exec", ["SIM"]),
            ],
            "expected exactly one risk worker",
        ),
        (
            [
                worker("d", "data", ["SIM"]),
                worker("d", "trader", ["EMACross-001", "MarketMaker-001"]),
                worker("r", "risk"),
                worker("e", "exec", ["SIM"]),
            ],
            "workers[1].name: 'd' is already the name of workers[0]",
        ),
    ],
)
def test_invalid_topologies_are_named(workers: list[WorkerConfig], message: str) -> None:
    with pytest.raises(TopologyError, match=re.escape(message)):
        validate_topology(workers, MEMBERS)


def test_subscriptions_follow_the_message_flow() -> None:
    plan = subscriptions(derive_workers(MEMBERS))
    as_dict = {w: {s.peer: s.prefixes for s in subs} for w, subs in plan.items()}
    assert as_dict["trader"] == {
        "data-SIM": ("data.", "events.recovery\x00"),
        "risk": ("events.risk\x00",),
        "exec-SIM": (
            "events.order.EMACross-001\x00",
            "events.order.MarketMaker-001\x00",
            # Every strategy's positions, EXTERNAL included: the account's net.
            "events.position.",
            "events.account.",
            "events.recovery\x00",
        ),
    }
    assert as_dict["data-SIM"] == {"trader": ("commands.data.SIM\x00",)}
    assert as_dict["risk"]["trader"] == ("commands.risk\x00",)
    assert as_dict["risk"]["exec-SIM"][-1] == "events.recovery\x00"
    assert as_dict["risk"]["data-SIM"][-1] == "events.recovery\x00"
    assert as_dict["exec-SIM"] == {
        "data-SIM": ("data.instrument.SIM.",),
        "risk": ("commands.exec.SIM\x00",),
    }


def test_venue_and_strategy_names_that_prefix_others_do_not_cross() -> None:
    # SIM is a prefix of SIM2 and MM-1 of MM-10: subscriptions are exact topics.
    members = Members(data_clients=("SIM", "SIM2"), exec_clients=("SIM", "SIM2"),
                      strategies=("MM-1", "MM-10"))
    workers = [
        worker("data-SIM", "data", ["SIM"]), worker("data-SIM2", "data", ["SIM2"]),
        worker("t1", "trader", ["MM-1"]), worker("t10", "trader", ["MM-10"]),
        worker("risk", "risk"),
        worker("exec-SIM", "exec", ["SIM"]), worker("exec-SIM2", "exec", ["SIM2"]),
    ]
    validate_topology(workers, members)
    plan = {w: {s.peer: s.prefixes for s in subs} for w, subs in subscriptions(workers).items()}
    takes = plan["exec-SIM"]["risk"]
    frame = lambda topic: topic + "\x00"  # noqa: E731  (frames are "topic NUL envelope")
    assert any(frame("commands.exec.SIM").startswith(p) for p in takes)
    assert not any(frame("commands.exec.SIM2").startswith(p) for p in takes)
    t1 = plan["t1"]["exec-SIM"]
    assert any(frame("events.order.MM-1").startswith(p) for p in t1)
    assert not any(frame("events.order.MM-10").startswith(p) for p in t1)


def test_with_shared_memory_risk_takes_no_market_data_from_the_bus() -> None:
    plan = subscriptions(derive_workers(MEMBERS), shared_market=True)
    risk = {s.peer: s.prefixes for s in plan["risk"]}
    # Prices come from shared memory (and the end of the data worker's replay).
    assert risk["data-SIM"] == ("data.instrument.", "events.recovery\x00")
    trader = {s.peer: s.prefixes for s in plan["trader"]}
    # Strategies still get every tick as an event.
    assert trader["data-SIM"] == ("data.", "events.recovery\x00")


def test_risk_in_the_exec_worker_takes_the_commands_and_what_risk_reads() -> None:
    two_venues = Members(data_clients=("SIM",), exec_clients=("SIM", "SIM2"),
                         strategies=("EMACross-001",))
    workers = derive_workers(two_venues, "exec")
    validate_topology(workers, two_venues, "exec")
    assert [(w.name, w.role, w.members, w.on_exit) for w in workers] == [
        ("data-SIM", "data", ["SIM"], "restart"),
        ("trader", "trader", ["EMACross-001"], "restart"),
        ("exec", "exec", ["SIM", "SIM2"], "stop"),
    ]
    plan = subscriptions(workers, risk_placement="exec")
    as_dict = {w: {s.peer: s.prefixes for s in subs} for w, subs in plan.items()}
    # Risk's commands and the exec role's instruments; risk's market data from data.
    assert as_dict["exec"] == {
        "data-SIM": ("data.instrument.SIM.", "data.instrument.SIM2.", "data.quotes.",
                     "data.trades.", "data.instrument.", "events.recovery\x00"),
        "trader": ("commands.risk\x00",),
    }
    # The trader hears trading-state events from the exec worker, where risk runs.
    assert as_dict["trader"]["exec"][-1] == "events.risk\x00"
    assert "risk" not in as_dict


def test_risk_in_the_trader_worker_sends_commands_straight_to_exec() -> None:
    workers = derive_workers(MEMBERS, "trader")
    validate_topology(workers, MEMBERS, "trader")
    assert [(w.name, w.on_exit) for w in workers] == [
        ("data-SIM", "restart"), ("trader", "stop"), ("exec-SIM", "stop")]
    plan = subscriptions(workers, risk_placement="trader")
    as_dict = {w: {s.peer: s.prefixes for s in subs} for w, subs in plan.items()}
    assert as_dict["exec-SIM"]["trader"] == ("commands.exec.SIM\x00",)
    # Risk reads every strategy's events (the trader alone takes its own).
    assert "events.order." in as_dict["trader"]["exec-SIM"]


@pytest.mark.parametrize(("placement", "workers", "message"), [
    ("exec", [worker("d", "data", ["SIM"]), worker("t", "trader", ["EMACross-001",
              "MarketMaker-001"]), worker("e1", "exec", ["SIM"]), worker("r", "risk")],
     "remove the risk worker(s) ['r']"),
    ("exec", [worker("d", "data", ["SIM"]), worker("t", "trader", ["EMACross-001"]),
              worker("t2", "trader", ["MarketMaker-001"]), worker("e1", "exec", ["SIM"])],
     None),
    ("trader", [worker("d", "data", ["SIM"]), worker("t", "trader", ["EMACross-001"]),
                worker("t2", "trader", ["MarketMaker-001"]), worker("e1", "exec", ["SIM"])],
     "needs exactly one trader worker (trading state and rate limits are node-wide), "
     "got 2: ['t', 't2']"),
])
def test_a_risk_host_must_be_unique_and_stop_the_node_when_it_dies(
    placement: str, workers: list[WorkerConfig], message: str | None
) -> None:
    hosts = [w for w in workers if w.role == placement]
    workers = [WorkerConfig(name=w.name, role=w.role, members=w.members, on_exit="stop")
               if w in hosts else w for w in workers]
    if message is None:
        validate_topology(workers, MEMBERS, placement)  # type: ignore[arg-type]
        return
    with pytest.raises(TopologyError, match=re.escape(message)):
        validate_topology(workers, MEMBERS, placement)  # type: ignore[arg-type]
