"""Risk placed inside the exec worker or the trader worker (`[supervisor]
risk_placement`): the node runs on three workers, the risk engine still decides
every order (a notional cap denies the BTC market maker's orders while the ETH
strategy trades), the trigger time of each order reaches the exec client through
the hops of that topology, and a bad placement is refused before anything starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
    wait_fills_above,
    wait_pids_gone,
)

pytestmark = pytest.mark.slow

# 0.01 BTC at ~50000 USDT is ~500 USDT: every market-maker order is above the cap.
OVERLAY = """
trader_id = "MPRISK-001"
[supervisor]
risk_placement = "{placement}"
[risk_engine.max_notional_per_order]
"BTCUSDT.SIM" = "100"
"ETHUSDT-PERP.SIM" = "2000"
"""


@pytest.mark.parametrize(("placement", "workers"), [
    ("exec", {"data-SIM": "data", "trader": "trader", "exec": "exec"}),
    ("trader", {"data-SIM": "data", "trader": "trader", "exec-SIM": "exec"}),
])
def test_risk_in_another_worker_still_decides_every_order(
    mp: MultiprocessHarness, tmp_path: Path, placement: str,  # noqa: F811
    workers: dict[str, str],
) -> None:
    overlay = tmp_path / "placement.toml"
    overlay.write_text(OVERLAY.format(placement=placement))
    summary_path = tmp_path / "run.summary.json"
    node = mp.start("run", mp.config(str(overlay)), "--summary-json", summary_path)
    node.wait_for_line(r"^node MPRISK-001 RUNNING \(3 workers\)$", timeout=60)
    status = mp.status("MPRISK-001")
    assert {w["name"]: w["role"] for w in status["workers"]} == workers
    # The market maker's orders are denied from its first quote on; the EMA cross
    # trades once its slow average is warm.
    wait_fills_above(node, 0, timeout=90)

    stop = mp.cli("stop", "--trader", "MPRISK-001")
    assert stop.returncode == 0, stop.stderr
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["shutdown"]["clean"] is True
    assert {w["name"]: w["role"] for w in summary["workers"]} == workers
    denials = summary["risk_denials"]
    assert any("notional" in reason.lower() for reason in denials), denials
    # Only the capped instrument is denied; the other one trades.
    instruments = {f["instrument_id"] for f in summary["fills"]}
    assert instruments == {"ETHUSDT-PERP.SIM"}, instruments
    # Tick to trade: the quote's entry time travelled with the order to the exec client.
    t2t = summary["latency"]["tick_to_trade_ns"]["SIM"]
    assert t2t["samples"] > 0 and 0 < t2t["p50"] <= t2t["max"] < 60_000_000_000, t2t
    assert summary["orders"]["open"] == []
    # Every worker timed its collector's pauses after its start.
    assert set(summary["gc"]) == set(workers), summary["gc"]
    assert all(gc["max_ns"] >= 0 and set(gc["generations"]) == {"0", "1", "2"}
               for gc in summary["gc"].values()), summary["gc"]
    wait_pids_gone([w["pid"] for w in status["workers"]], timeout=10, what="worker pids")


@pytest.mark.parametrize(("overlay", "message"), [
    ('[supervisor]\nrisk_placement = "exec"\n[[workers]]\nname = "data"\nrole = "data"\n'
     'members = ["SIM"]\n[[workers]]\nname = "trader"\nrole = "trader"\n'
     'members = ["MarketMaker-001", "EMACross-001"]\n[[workers]]\nname = "risk"\n'
     'role = "risk"\n[[workers]]\nname = "exec"\nrole = "exec"\nmembers = ["SIM"]\n',
     "supervisor.risk_placement = 'exec' runs the risk engine inside the exec worker; "
     "remove the risk worker(s) ['risk']"),
    ('[supervisor]\nrisk_placement = "trader"\n[[workers]]\nname = "data"\nrole = "data"\n'
     'members = ["SIM"]\n[[workers]]\nname = "trader"\nrole = "trader"\n'
     'members = ["MarketMaker-001", "EMACross-001"]\non_exit = "restart"\n'
     '[[workers]]\nname = "exec"\nrole = "exec"\nmembers = ["SIM"]\n',
     'workers[1] (trader).on_exit: expected "stop" for the worker that hosts the risk engine'),
])
def test_a_risk_placement_the_topology_cannot_honour_exits_2(
    mp: MultiprocessHarness, tmp_path: Path, overlay: str, message: str  # noqa: F811
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(overlay)
    node = mp.start("run", mp.config(str(path)))
    assert node.wait(timeout=60) == 2, node.output()
    assert message in node.output()
    assert mp.run_dirs() == []
