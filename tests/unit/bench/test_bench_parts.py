"""The pieces of `livenode bench`: scenario config, percentiles, reports, plot, progress.

No timing is asserted anywhere: only structure and the rules the figures follow.
"""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from livenode.bench.components import parse_report, report_line
from livenode.bench.plot import dense_points, plot_percentiles, summary_points
from livenode.bench.report import Progress, machine_facts, percentiles_ns, ratio
from livenode.bench.scenario import (
    TOPOLOGIES,
    TOPOLOGY_OVERRIDES,
    NotSupportedYetError,
    chain_roles,
    scenario_config,
    write_config,
)
from livenode.bench.t2t import _hops
from livenode.bench.throughput import feed_capacity, step_failures
from livenode.cli import bench_cmd
from livenode.cli.main import main as livenode_main
from livenode.config import load_config

ROOT = Path(__file__).resolve().parents[3]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_committed_scenario_file_is_what_scenario_config_builds() -> None:
    committed = tomllib.loads((ROOT / "benchmarks/configs/tick_to_trade.toml").read_text())
    assert committed == scenario_config("single")


@pytest.mark.parametrize("strategy", ["reactor", "probe-quotes", "probe-orders"])
@pytest.mark.parametrize("mode", ["single", "multiprocess"])
def test_every_scenario_variant_is_a_valid_node_config(
    tmp_path: Path, mode: str, strategy: str
) -> None:
    config = scenario_config(mode, rate=1234.0, every=3, count=50, progress_every=10,
                             strategy=strategy, trader_id="BENCH-42",  # type: ignore[arg-type]
                             warmup_quotes=7)
    loaded = load_config(write_config(config, tmp_path / "scenario.toml"))
    assert loaded.mode == mode
    assert loaded.trader_id == "BENCH-42"
    feed = loaded.data_clients["SIM"].config["venue_config"]["feed"]
    assert feed["rate_per_second"] == 1234.0
    strategy_config = loaded.strategies[0].config
    if strategy == "reactor":
        assert (strategy_config["every_n"], strategy_config["max_orders"]) == (3, 50)
    else:
        assert strategy_config["orders"] is (strategy == "probe-orders")
        assert strategy_config["warmup_quotes"] == 7


def test_worker_cores_pin_each_role(tmp_path: Path) -> None:
    config = scenario_config("multiprocess", worker_cores=[0, 1, 0, 1], stamp="venue")
    loaded = load_config(write_config(config, tmp_path / "pinned.toml"))
    assert [(w.role, w.cores) for w in loaded.workers] == [
        ("data", [0]), ("trader", [1]), ("risk", [0]), ("exec", [1])
    ]
    assert loaded.data_clients["SIM"].factory == "livenode.adapters.sim:SimDataClientFactory"
    with pytest.raises(ValueError, match="--worker-cores: expected 4 cores"):
        scenario_config("multiprocess", worker_cores=[0, 1])


def test_an_option_without_its_config_switch_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every value is wired in this build; a value added before its switch exists is
    # None in the table, and refused (the command exits 2 before running anything).
    monkeypatch.setitem(TOPOLOGY_OVERRIDES, "risk-in-data", None)
    with pytest.raises(NotSupportedYetError,
                       match="--topology risk-in-data: not supported by this build yet"):
        scenario_config("multiprocess", topology="risk-in-data")
    monkeypatch.setattr(bench_cmd, "TOPOLOGIES", (*TOPOLOGIES, "risk-in-data"))
    assert livenode_main(["bench", "t2t", "--topology", "risk-in-data"]) == 2
    assert "not supported by this build yet" in capsys.readouterr().err
    # The defaults always work; unknown values are a plain usage error.
    assert scenario_config("multiprocess", "default", "block")["mode"] == "multiprocess"
    with pytest.raises(ValueError, match="--topology: expected one of") as info:
        scenario_config("single", topology="everywhere")
    assert not isinstance(info.value, NotSupportedYetError)
    with pytest.raises(ValueError, match="--rate: expected a positive"):
        scenario_config("single", rate=0)
    with pytest.raises(ValueError, match="mode: expected one of"):
        scenario_config("both")


@pytest.mark.parametrize("host", ["exec", "trader"])
@pytest.mark.parametrize("cores", [None, [0, 1, 0, 1]])
def test_risk_placement_and_spin_become_the_config_switches(
    tmp_path: Path, host: str, cores: list[int] | None
) -> None:
    config = scenario_config("multiprocess", f"risk-in-{host}", "spin", worker_cores=cores)
    loaded = load_config(write_config(config, tmp_path / "placed.toml"))
    assert loaded.supervisor.risk_placement == host
    assert loaded.message_bus.wait == "spin"
    if cores:  # the explicit risk worker is gone; its host may not restart
        assert [w.role for w in loaded.workers] == ["data", "trader", "exec"]
        assert next(w for w in loaded.workers if w.role == host).on_exit == "stop"
    assert chain_roles(f"risk-in-{host}") == ("data", "trader", "exec")
    assert chain_roles("default") == ("data", "trader", "risk", "exec")
    plain = load_config(write_config(scenario_config("multiprocess"), tmp_path / "plain.toml"))
    assert (plain.supervisor.risk_placement, plain.message_bus.wait) == ("worker", "block")


def test_percentiles_are_nearest_rank_and_ratios_per_key() -> None:
    result = percentiles_ns(list(range(1, 1001)))
    assert result == {"p50": 500, "p90": 900, "p99": 990, "p99.9": 999, "max": 1000}
    assert percentiles_ns([]) == {}
    assert ratio({"p50": 30, "max": 90}, {"p50": 10, "max": 30, "p90": 5}) == {
        "p50": 3.0, "max": 3.0}
    assert ratio(None, {"p50": 1}) is None


def test_reports_round_trip_through_a_log_line() -> None:
    line = "2026-12-03T10:00:00Z INFO [trader] livenode.bench: " + report_line(
        event="progress", orders=50, of=2000)
    assert parse_report(line) == {"event": "progress", "orders": 50, "of": 2000}
    assert parse_report("BENCH {not json") is None
    assert parse_report("an ordinary line") is None


def test_plot_points_stop_where_the_samples_do() -> None:
    row = {"samples": 500, "p50": 10, "p90": 20, "p99": 30, "p99.9": 40, "max": 40}
    points = summary_points(row)
    # p99.9 of 500 samples is the max itself: drawn once, at the last sample's rank.
    assert points == [(0.5, 10.0), (0.9, 20.0), (0.99, 30.0), (0.998, 40.0)]
    dense = dense_points(list(range(1, 101)))
    qs = [q for q, _ in dense]
    assert qs == sorted(qs) and qs[-1] == pytest.approx(0.99)
    assert dense[-1][1] == 100.0
    assert dense_points([]) == []


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = plot_percentiles(
        {"single": summary_points({"samples": 2000, "p50": 100_000, "p90": 150_000,
                                   "p99": 300_000, "p99.9": 900_000, "max": 2_000_000}),
         "raw floor": dense_points(list(range(50_000, 250_000, 100)))},
        tmp_path / "plot.png", "title", "subtitle")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_progress_prints_plain_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.start("phase")
    for i in range(101):
        progress.update(i / 100)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "phase: 0%" and lines[-1] == "phase: 100%"
    assert "\r" not in out.getvalue()
    assert len(lines) <= 12  # one per 10 %, not one per update


def test_machine_facts_name_the_host_and_the_hot_path_packages() -> None:
    facts = machine_facts()
    assert facts["cpu_count"] >= 1 and facts["affinity"]
    assert len(facts["load_before"]) == 3
    assert facts["kernel"] and facts["python"].split()[-1].startswith("3.")
    for package in ("pyzmq", "msgspec", "uvloop"):
        assert facts["packages"][package]


def test_hops_put_the_tick_to_trade_chain_first() -> None:
    summary = {
        "workers": [{"name": "data-SIM", "role": "data"}, {"name": "trader", "role": "trader"},
                    {"name": "risk", "role": "risk"}, {"name": "exec-SIM", "role": "exec"}],
        "hop_latency": {
            "exec-SIM->trader": {"count": 5, "p50": 1, "p90": 2, "p99": 3, "p99.9": 4, "max": 5},
            "risk->exec-SIM": {"count": 5, "p50": 1, "p90": 2, "p99": 3, "p99.9": 4, "max": 5},
            "data-SIM->trader": {"count": 5, "p50": 1, "p90": 2, "p99": 3, "p99.9": 4, "max": 5},
            "trader->risk": {"count": 5, "p50": 1, "p90": 2, "p99": 3, "p99.9": 4, "max": 5},
        },
    }
    hops = _hops(summary)
    assert [(h["hop"], h["chain"]) for h in hops] == [
        ("data-SIM->trader", True), ("trader->risk", True), ("risk->exec-SIM", True),
        ("exec-SIM->trader", False)]
    assert hops[0]["samples"] == 5 and "count" not in hops[0]


def test_a_throughput_step_fails_on_each_bound_and_names_it() -> None:
    ok = {"offered": 1000.0, "achieved": 995.0, "p99_ns": 50_000, "exit_code": 0}
    assert step_failures(ok, bound_ns=100_000, behind=0.9) == []
    slow = step_failures({**ok, "p99_ns": 150_000}, bound_ns=100_000, behind=0.9)
    assert slow == ["p99 150 us > bound 100 us"]
    behind = step_failures({**ok, "achieved": 800.0}, bound_ns=100_000, behind=0.9)
    assert behind == ["achieved 800/s < 0.9 x offered"]
    assert step_failures({**ok, "exit_code": 1}, 100_000, 0.9) == [
        "the node's stop was not clean (exit 1)"]
    assert len(step_failures({**ok, "p99_ns": None, "achieved": 0.0}, 100_000, 0.9)) == 2


def test_the_sim_feed_alone_delivers_what_it_is_offered_in_batches() -> None:
    # No speed is asserted: a low rate, only that the count and the record add up.
    found = feed_capacity(2000.0, seconds=0.5)
    assert found["offered"] == 2000.0
    assert found["delivered"] > 0 and found["lag_dropped"] >= 0


def test_progress_redraws_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    progress = Progress(out, width=10)
    progress.start("phase")
    progress.update(0.5, "5/10 orders")
    progress.finish()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended at finish
    assert "[#####-----]  50% 5/10 orders" in text
    assert text.count("\r") == 2


def test_wait_yield_becomes_yield_after_send(tmp_path: Path) -> None:
    config = scenario_config("multiprocess", "default", "yield")
    loaded = load_config(write_config(config, tmp_path / "yield.toml"))
    assert (loaded.message_bus.wait, loaded.message_bus.yield_after_send) == ("block", True)


def test_lifecycle_cap_reaches_the_cache_the_venue_and_the_latency_samples(
    tmp_path: Path,
) -> None:
    config = scenario_config("multiprocess", max_closed_orders=1000, max_latency_samples=1000)
    loaded = load_config(write_config(config, tmp_path / "cap.toml"))
    assert loaded.cache.max_closed_orders == 1000
    assert loaded.data_clients["SIM"].config["venue_config"]["max_closed_orders"] == 1000
    assert loaded.exec_clients["SIM"].config["max_latency_samples"] == 1000
    with pytest.raises(ValueError, match="--max-closed-orders"):
        scenario_config("single", max_closed_orders=0)


def test_lifecycle_reads_rss_at_the_warmup_and_spread_over_the_orders() -> None:
    from livenode.bench.lifecycle import LifecycleOptions, _progress_every, checkpoints

    assert checkpoints(200, 5000, 4) == [200, 1250, 2500, 3750, 5000]
    assert checkpoints(200, 20000, 1) == [200, 20000]
    assert checkpoints(5000, 20000, 4) == [5000, 10000, 15000, 20000]  # no repeat
    assert checkpoints(50, 1001, 2) == [50, 501, 1001]  # rounded up
    # The strategy reports on every checkpoint exactly (not up to 50 orders late).
    for opts in (LifecycleOptions(), LifecycleOptions(warmup=50, orders=1001, samples=2)):
        every = _progress_every(opts)
        assert all(n % every == 0 for n in checkpoints(opts.warmup, opts.orders, opts.samples))
    assert _progress_every(LifecycleOptions()) == 50
    assert LifecycleOptions().cap == 10000
    assert LifecycleOptions(max_closed_orders=1000).cap == 1000


def test_lifecycle_slope_counts_only_readings_past_the_cap() -> None:
    from livenode.bench.lifecycle import slope_past_cap

    kib = 1024
    readings: list[tuple[int, int | None]] = [
        (200, 100 * kib), (5000, 900 * kib), (10000, 1000 * kib), (20000, 1000 * kib)]
    # Growth while the cache fills (to 5000) is not counted.
    assert slope_past_cap(readings, 5000) == 6.67  # 100 KiB over 15,000 orders
    assert slope_past_cap(readings, 10000) == 0.0
    assert slope_past_cap(readings, 20000) is None  # one reading past the cap
    assert slope_past_cap([(5000, None), (10000, 5 * kib)], 1000) is None  # process gone
    assert slope_past_cap(readings[-2:], 1000) == 0.0  # the last interval alone


def test_lifecycle_options_on_the_command_line() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    bench_cmd.add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "lifecycle", "--orders", "20000",
                              "--max-closed-orders", "1000", "--samples", "8"])
    assert (args.orders, args.max_closed_orders, args.samples) == (20000, 1000, 8)
    args = parser.parse_args(["bench", "lifecycle"])
    assert (args.max_closed_orders, args.samples) == (None, 4)
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "lifecycle", "--max-closed-orders", "0"])
