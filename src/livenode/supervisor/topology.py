"""Placement of the node's components on worker processes, and the bus wiring
that placement implies.

A topology is a list of `WorkerConfig`: given in the config (`[[workers]]`) or
derived (one data worker per data client, one trader, one risk, one exec worker
per exec client). Validation names the worker, the member and what is wrong. From
a valid topology follow, per worker, the topic prefixes it must receive and from
which peers, so each SUB socket filters at the publisher.

A prefix ending in NUL is one exact topic: frames on the bus are "topic NUL
envelope", so "commands.exec.SIM\x00" takes SIM's commands and never SIM2's.

Client names are venue names (``[data_clients.SIM]`` serves venue SIM): that is
what lets a data command for venue SIM find its data worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from livenode.bus.topics import exact
from livenode.config import TradingNodeConfig, strategy_ids
from livenode.config.workers import ROLES, RiskPlacement, WorkerConfig


class TopologyError(ValueError):
    """A topology that cannot run; the message names the worker and member."""


@dataclass(frozen=True)
class Members:
    """What the configuration offers to place: client names and strategy ids."""

    data_clients: tuple[str, ...]
    exec_clients: tuple[str, ...]
    strategies: tuple[str, ...]


@dataclass(frozen=True)
class Subscription:
    """`worker` receives topics starting with any of `prefixes` from `peer`."""

    peer: str
    prefixes: tuple[str, ...]


def roles_of(role: str, risk_placement: RiskPlacement = "worker") -> frozenset[str]:
    """The kernel roles a worker of `role` runs: its own, and risk when it is the
    risk host."""
    if role == risk_placement:
        return frozenset({role, "risk"})
    return frozenset({role})


def derive_workers(
    members: Members, risk_placement: RiskPlacement = "worker"
) -> list[WorkerConfig]:
    """The automatic topology: data per venue, one trader, one risk, exec per venue.
    With risk in the exec worker, one exec worker hosts every exec client; with risk
    in the trader, the trader. A risk host stops the node when it dies."""
    if risk_placement == "exec":
        return [
            *derive_workers(members)[: -len(members.exec_clients) - 1],
            WorkerConfig(name="exec", role="exec", members=list(members.exec_clients),
                         on_exit="stop"),
        ]
    if risk_placement == "trader":
        return [
            WorkerConfig(name=w.name, role=w.role, members=w.members, on_exit="stop")
            if w.role == "trader" else w
            for w in derive_workers(members) if w.role != "risk"
        ]
    workers = [
        WorkerConfig(name=f"data-{name}", role="data", members=[name], on_exit="restart")
        for name in members.data_clients
    ]
    if members.strategies:
        workers.append(
            WorkerConfig(
                name="trader", role="trader", members=list(members.strategies), on_exit="restart"
            )
        )
    workers.append(WorkerConfig(name="risk", role="risk", on_exit="stop"))
    workers.extend(
        WorkerConfig(name=f"exec-{name}", role="exec", members=[name], on_exit="stop")
        for name in members.exec_clients
    )
    return workers


def validate_topology(
    workers: Sequence[WorkerConfig], members: Members, risk_placement: RiskPlacement = "worker"
) -> None:
    """Raise `TopologyError` unless every member sits on exactly one fitting worker,
    and the risk engine on exactly one (its own worker, or the one host
    `risk_placement` names)."""
    seen_names: dict[str, int] = {}
    for index, worker in enumerate(workers):
        if worker.name in seen_names:
            raise TopologyError(
                f"workers[{index}].name: {worker.name!r} is already the name of "
                f"workers[{seen_names[worker.name]}]"
            )
        seen_names[worker.name] = index

    hosts = {
        "data": ("data client", members.data_clients),
        "trader": ("strategy", members.strategies),
        "exec": ("exec client", members.exec_clients),
    }
    kinds = {
        **{m: "data client" for m in members.data_clients},
        **{m: "strategy" for m in members.strategies},
        **{m: "exec client" for m in members.exec_clients},
    }
    placed: dict[tuple[str, str], str] = {}
    for index, worker in enumerate(workers):
        where = f"workers[{index}] ({worker.name})"
        if worker.role == "risk":
            if worker.members:
                raise TopologyError(
                    f"{where}.members: a risk worker hosts no members, got {worker.members}"
                )
            continue
        kind, allowed = hosts[worker.role]
        for member in worker.members:
            if member not in allowed:
                other = kinds.get(member)
                if other is not None:
                    raise TopologyError(
                        f"{where}.members: {member!r} is a {other}; a {worker.role} worker "
                        f"hosts {kind}s ({', '.join(allowed) or 'none configured'})"
                    )
                raise TopologyError(
                    f"{where}.members: {member!r} is not a configured {kind} "
                    f"(configured: {', '.join(allowed) or 'none'})"
                )
            key = (worker.role, member)
            if key in placed:
                raise TopologyError(
                    f"{where}.members: {kind} {member!r} is already placed on worker "
                    f"{placed[key]!r}; each {kind} runs on exactly one worker"
                )
            placed[key] = worker.name

    for role, (kind, allowed) in hosts.items():
        for member in allowed:
            if (role, member) not in placed:
                raise TopologyError(
                    f"workers: {kind} {member!r} is placed on no worker; add it to the "
                    f"members of a {role} worker"
                )
    risk_workers = [w.name for w in workers if w.role == "risk"]
    if risk_placement != "worker":
        _validate_risk_host(workers, risk_workers, risk_placement)
    elif len(risk_workers) != 1:
        raise TopologyError(
            f"workers: expected exactly one risk worker (trading state and rate limits "
            f"are node-wide), got {len(risk_workers)}: {risk_workers}"
        )
    unknown_roles = [w.role for w in workers if w.role not in ROLES]
    if unknown_roles:  # unreachable through msgspec's Literal, kept for direct callers
        raise TopologyError(f"workers: unknown role(s) {unknown_roles}")


def _validate_risk_host(
    workers: Sequence[WorkerConfig], risk_workers: list[str], placement: RiskPlacement
) -> None:
    where = f"supervisor.risk_placement = {placement!r}"
    if risk_workers:
        raise TopologyError(
            f"workers: {where} runs the risk engine inside the {placement} worker; "
            f"remove the risk worker(s) {risk_workers}"
        )
    hosts = [(i, w) for i, w in enumerate(workers) if w.role == placement]
    if len(hosts) != 1:
        raise TopologyError(
            f"workers: {where} needs exactly one {placement} worker (trading state and "
            f"rate limits are node-wide), got {len(hosts)}: {[w.name for _, w in hosts]}"
        )
    index, host = hosts[0]
    if host.on_exit != "stop":
        raise TopologyError(
            f'workers[{index}] ({host.name}).on_exit: expected "stop" for the worker that '
            f"hosts the risk engine ({where}), got {host.on_exit!r}"
        )


def subscriptions(
    workers: Sequence[WorkerConfig], shared_market: bool = False,
    risk_placement: RiskPlacement = "worker",
) -> dict[str, list[Subscription]]:
    """For each worker, the peers it subscribes to and the topic prefixes it takes.

    trader  <- data: market data; exec: its strategies' order events, every
               strategy's position events (the account's net), account events;
               risk: trading-state events
               (data and exec: also the end of their state replay, events.recovery)
    data    <- trader: data commands for its venues
    risk    <- trader: order commands; data: instruments, and quotes and trades
               unless the node shares its market state in shared memory (then
               risk reads its reference prices from there);
               exec: order, position and account events (balances, open orders);
               (data and exec: also the end of their state replay, events.recovery)
    exec    <- risk: commands for its venues; data: its venues' instruments
    """
    by_role: dict[str, list[WorkerConfig]] = {role: [] for role in ROLES}
    for worker in workers:
        by_role[worker.role].append(worker)

    def wanted(worker: WorkerConfig, peer: WorkerConfig) -> tuple[str, ...]:
        # A worker that hosts two roles takes what each of them takes from each role
        # of the peer (in order, without repeats).
        prefixes: dict[str, None] = {}
        for role in sorted(roles_of(worker.role, risk_placement)):
            for peer_role in sorted(roles_of(peer.role, risk_placement)):
                prefixes.update(dict.fromkeys(wanted_by_role(role, worker, peer_role)))
        return tuple(prefixes)

    def wanted_by_role(role: str, worker: WorkerConfig, peer_role: str) -> tuple[str, ...]:
        if role == "trader":
            if peer_role == "data":
                return ("data.", exact("events.recovery"))
            if peer_role == "exec":
                own_orders = [exact(f"events.order.{sid}") for sid in worker.members]
                # Every strategy's positions, EXTERNAL included, not only its own: a
                # venue nets the account, and a strategy's reduce-only close must not
                # exceed the account's net (`livenode.trading.closing`).
                return (*own_orders, "events.position.", "events.account.",
                        exact("events.recovery"))
            if peer_role == "risk":
                return (exact("events.risk"),)
        if role == "data" and peer_role == "trader":
            return tuple(exact(f"commands.data.{venue}") for venue in worker.members)
        if role == "risk":
            if peer_role == "trader":
                return (exact("commands.risk"),)
            if peer_role == "data":
                if shared_market:
                    return ("data.instrument.", exact("events.recovery"))
                return ("data.quotes.", "data.trades.", "data.instrument.",
                        exact("events.recovery"))
            if peer_role == "exec":
                return ("events.order.", "events.position.", "events.account.",
                        exact("events.recovery"))
        if role == "exec":
            if peer_role == "risk":
                return tuple(exact(f"commands.exec.{venue}") for venue in worker.members)
            if peer_role == "data":
                return tuple(f"data.instrument.{venue}." for venue in worker.members)
        return ()

    plan: dict[str, list[Subscription]] = {}
    for worker in workers:
        subs = []
        for peer in workers:
            if peer.name == worker.name:
                continue
            prefixes = wanted(worker, peer)
            if prefixes:
                subs.append(Subscription(peer=peer.name, prefixes=prefixes))
        plan[worker.name] = subs
    return plan


def node_members(config: TradingNodeConfig) -> Members:
    """The clients and strategy ids the configuration offers to place."""
    return Members(
        data_clients=tuple(config.data_clients),
        exec_clients=tuple(config.exec_clients),
        strategies=tuple(strategy_ids(config)),
    )


def bus_subscribers(config: TradingNodeConfig, worker: str) -> list[str]:
    """The workers that subscribe to `worker`'s publisher (the same topology and wiring
    the supervisor computes): a worker waits for their hellos before it says Ready."""
    placement = config.supervisor.risk_placement
    workers = list(config.workers) or derive_workers(node_members(config), placement)
    plan = subscriptions(workers, shared_market=config.cache.shared_memory,
                         risk_placement=placement)
    return sorted(name for name, subs in plan.items() if any(s.peer == worker for s in subs))
