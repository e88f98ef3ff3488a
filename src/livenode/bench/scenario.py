"""The standard benchmark scenario as a node config, and every override in one place.

One instrument (BTCUSDT) on the sim venue, the venue acking and filling with no
added latency, risk on (limits far above any rate measured), quotes stamped when
they enter the data client (`EntryStampedSimDataClientFactory`), and one strategy:
`QuoteReactor` for tick to trade, `RateProbe` for throughput. `scenario_config` is
the only function that turns the benchmark's options (mode, topology, wait, rate,
...) into config values; ``benchmarks/configs/tick_to_trade.toml`` is its output for
single mode with the defaults (a unit test keeps the two equal).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import tomli_w

__all__ = [
    "INSTRUMENT",
    "MODES",
    "THROUGHPUT_RATES",
    "TOPOLOGIES",
    "WAITS",
    "NotSupportedYetError",
    "chain_roles",
    "scenario_config",
    "unique_trader_id",
    "write_config",
]

Mode = Literal["single", "multiprocess"]
Topology = Literal["default", "risk-in-exec", "risk-in-trader"]
Wait = Literal["block", "spin", "yield"]
MODES: tuple[Mode, ...] = ("single", "multiprocess")
TOPOLOGIES: tuple[Topology, ...] = ("default", "risk-in-exec", "risk-in-trader")
WAITS: tuple[Wait, ...] = ("block", "spin", "yield")
INSTRUMENT = "BTCUSDT.SIM"
#: The offered quote rates `livenode bench throughput` steps through by default.
THROUGHPUT_RATES = (250.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0,
                    200000.0)
_COMPONENTS = "livenode.bench.components"

Overrides = Callable[[dict[str, Any]], None]


class NotSupportedYetError(ValueError):
    """An option value whose config switch this build of the node does not have."""


def _no_change(config: dict[str, Any]) -> None:
    """The option's default: the scenario as it is."""


def _risk_in(host: str) -> Overrides:
    """``[supervisor] risk_placement = host``: the risk engine inside that worker (an
    order crosses 2 bus hops instead of 3); an explicit risk worker is dropped."""

    def apply(config: dict[str, Any]) -> None:
        config.setdefault("supervisor", {})["risk_placement"] = host
        if "workers" in config:
            workers = [w for w in config["workers"] if w["role"] != "risk"]
            for worker in workers:
                if worker["role"] == host:  # the risk host must not restart mid-run
                    worker["on_exit"] = "stop"
            config["workers"] = workers

    return apply


def _spin(config: dict[str, Any]) -> None:
    """``[message_bus] wait = "spin"``: workers poll their socket for ``spin_us``
    after each message before sleeping (for workers that own a core)."""
    config.setdefault("message_bus", {})["wait"] = "spin"


def _yield(config: dict[str, Any]) -> None:
    """``[message_bus] yield_after_send = true``: workers give the core up after each
    send (for workers that share a core)."""
    config.setdefault("message_bus", {})["yield_after_send"] = True


# -- where the --topology and --wait values are wired ---------------------------------------
# Each value maps to a function that edits the scenario config, or to None while the
# node has no config switch for it (the command then exits 2, "not supported by this
# build yet"). To wire a new one: add it here with None, then replace the None by a
# function that sets the switch; nothing else needs to change.
TOPOLOGY_OVERRIDES: dict[str, Overrides | None] = {
    "default": _no_change,  # derived topology: data, trader, risk, exec workers
    "risk-in-exec": _risk_in("exec"),  # the risk engine inside the exec worker
    "risk-in-trader": _risk_in("trader"),  # the risk engine inside the trader worker
}
WAIT_OVERRIDES: dict[str, Overrides | None] = {
    "block": _no_change,  # workers sleep in the event loop until a frame arrives
    "spin": _spin,  # workers busy-poll their bus sockets
    "yield": _yield,  # workers block, and yield the core after each send
}


def chain_roles(topology: str) -> tuple[str, ...]:
    """The worker roles a quote and its order cross, in order, under `topology`."""
    if topology in ("risk-in-exec", "risk-in-trader"):
        return ("data", "trader", "exec")
    return ("data", "trader", "risk", "exec")


def unique_trader_id() -> str:
    """A trader id of this benchmark process: other nodes (tests, other benchmarks)
    may run on the host with the scenario's default id, and `livenode status` must
    find ours alone."""
    return f"BENCH-{os.getpid()}"


def scenario_config(
    mode: str,
    topology: str = "default",
    wait: str = "block",
    *,
    rate: float = 200.0,
    every: int = 1,
    count: int | None = None,
    progress_every: int = 0,
    strategy: Literal["reactor", "probe-quotes", "probe-orders"] = "reactor",
    trader_id: str = "BENCH-001",
    stamp: Literal["entry", "venue"] = "entry",
    worker_cores: list[int] | None = None,
    hop_latency_every: int | None = None,
    stage_trace_every: int = 0,
    database: dict[str, Any] | None = None,
    warmup_quotes: int | None = None,
    max_closed_orders: int | None = None,
    max_latency_samples: int | None = None,
) -> dict[str, Any]:
    """The scenario config (a dict, as TOML would load it) for these options.

    Raises `NotSupportedYetError` for a topology or wait whose switch the config
    does not have yet, `ValueError` for an unknown value (naming the option).
    ``worker_cores`` (data, trader, risk, exec) pins a multiprocess node explicitly;
    ``stamp = "venue"`` uses the stock sim data client (stamped in the venue);
    ``database`` is a ``[cache.database]`` table (e.g. ``{"type": "sqlite", ...}``);
    ``warmup_quotes`` the quotes a `RateProbe` ignores at its start;
    ``max_closed_orders`` the closed orders the node's cache and the sim venue keep
    (default 10000 both); ``max_latency_samples`` the exec client's tick-to-trade
    sample window (default 1,000,000: every sample of a measured run).
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {', '.join(MODES)}, got {mode!r}")
    for option, value, table in (("topology", topology, TOPOLOGY_OVERRIDES),
                                 ("wait", wait, WAIT_OVERRIDES)):
        if value not in table:
            raise ValueError(f"--{option}: expected one of {', '.join(table)}, got {value!r}")
        if table[value] is None:
            raise NotSupportedYetError(
                f"--{option} {value}: not supported by this build yet (the node config has "
                f"no switch for it; wire it in livenode.bench.scenario."
                f"{option.upper()}_OVERRIDES)"
            )
    if rate <= 0:
        raise ValueError(f"--rate: expected a positive number of quotes per second, got {rate}")
    if every < 1:
        raise ValueError(f"--every: expected >= 1, got {every}")
    if count is not None and count < 1:
        raise ValueError(f"--count: expected >= 1, got {count}")
    for option, bound in (("--max-closed-orders", max_closed_orders),
                          ("--max-latency-samples", max_latency_samples)):
        if bound is not None and bound < 1:
            raise ValueError(f"{option}: expected >= 1, got {bound}")
    config = _base(trader_id, rate)
    config["mode"] = mode
    if strategy == "reactor":
        reactor: dict[str, Any] = {
            "instrument_id": INSTRUMENT, "trade_size": "0.001", "every_n": every,
            "offset_bps": 1000.0,
        }
        if count is not None:
            reactor["max_orders"] = count
        if progress_every:
            reactor["progress_every"] = progress_every
        config["strategies"] = [{"path": f"{_COMPONENTS}:QuoteReactor",
                                 "config_path": f"{_COMPONENTS}:QuoteReactorConfig",
                                 "config": reactor}]
    else:
        probe: dict[str, Any] = {"instrument_id": INSTRUMENT,
                                 "orders": strategy == "probe-orders"}
        if warmup_quotes is not None:
            probe["warmup_quotes"] = warmup_quotes
        config["strategies"] = [{"path": f"{_COMPONENTS}:RateProbe",
                                 "config_path": f"{_COMPONENTS}:RateProbeConfig",
                                 "config": probe}]
    if stamp == "venue":
        config["data_clients"]["SIM"]["factory"] = "livenode.adapters.sim:SimDataClientFactory"
    if database is not None:
        config["cache"]["database"] = dict(database)
    if max_closed_orders is not None:
        config["cache"]["max_closed_orders"] = max_closed_orders
        config["data_clients"]["SIM"]["config"]["venue_config"]["max_closed_orders"] = (
            max_closed_orders)
    if max_latency_samples is not None:
        config["exec_clients"]["SIM"]["config"]["max_latency_samples"] = max_latency_samples
    if hop_latency_every is not None:
        config.setdefault("message_bus", {})["hop_latency_every"] = hop_latency_every
    if stage_trace_every:
        config.setdefault("message_bus", {})["stage_trace_every"] = stage_trace_every
    if mode == "multiprocess" and worker_cores:
        if len(worker_cores) != 4:
            raise ValueError("--worker-cores: expected 4 cores (data,trader,risk,exec), "
                             f"got {worker_cores}")
        strategy_id = f"{config['strategies'][0]['path'].rpartition(':')[2]}-001"
        members = {"data": ["SIM"], "trader": [strategy_id], "risk": [], "exec": ["SIM"]}
        names = {"data": "data-SIM", "trader": "trader", "risk": "risk", "exec": "exec-SIM"}
        config["workers"] = [
            {"name": names[role], "role": role, "members": members[role], "cores": [core]}
            for role, core in zip(("data", "trader", "risk", "exec"), worker_cores, strict=True)
        ]
    for table, value in ((TOPOLOGY_OVERRIDES, topology), (WAIT_OVERRIDES, wait)):
        override = table[value]
        assert override is not None  # checked above
        override(config)
    return config


def _base(trader_id: str, rate: float) -> dict[str, Any]:
    venue = {
        "account_type": "CASH",
        "starting_balances": ["100000000 USDT"],
        "ack_latency_ms": 0.0,
        "fill_latency_ms": 0.0,
        "feed": {"mode": "random_walk", "rate_per_second": float(rate), "seed": 7},
        "instruments": [{
            "symbol": "BTCUSDT", "kind": "spot", "base": "BTC", "quote": "USDT",
            "price_precision": 2, "price_increment": "0.01", "size_precision": 5,
            "size_increment": "0.00001", "min_quantity": "0.00001", "start_price": "50000",
            "volatility": 0.0001, "trade_probability": 0.0,
        }],
    }
    return {
        "trader_id": trader_id,
        "mode": "single",
        "environment": "sandbox",
        "status_interval": 5.0,
        "risk_engine": {"bypass": False, "trading_state": "ACTIVE",
                        "max_order_submit_rate": "100000/1s",
                        "max_order_modify_rate": "100000/1s"},
        "exec_engine": {"reconciliation": True},
        "cache": {"max_closed_orders": 10000},
        # The strategies' reports (livenode.bench, INFO) pass; the rest only from WARNING.
        # The reports are read from stderr (`NodeProcess`): the screen shows them too.
        "logging": {"level": "WARNING", "console_level": "INFO", "levels": {"bench": "INFO"}},
        "timeouts": {"connection": 10, "reconciliation": 10, "portfolio": 10,
                     "disconnection": 10, "post_stop": 5, "shutdown": 40},
        "data_clients": {"SIM": {
            "factory": f"{_COMPONENTS}:EntryStampedSimDataClientFactory",
            "config": {"venue": "SIM", "venue_config": venue},
        }},
        "exec_clients": {"SIM": {
            "factory": "livenode.adapters.sim:SimExecClientFactory",
            "config": {"venue": "SIM", "max_latency_samples": 1_000_000},
        }},
    }


def write_config(config: dict[str, Any], path: Path) -> Path:
    """Write the scenario as TOML (what `livenode run` reads); returns `path`. Its log
    file is written beside it (``<name>.log``) unless the scenario names one."""
    logging = config.get("logging", {})
    if "file" not in logging:
        config = {**config, "logging": {**logging, "file": str(path.with_suffix(".log"))}}
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path
