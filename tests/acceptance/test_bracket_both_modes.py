"""The bracket example (a reduce-only stop-loss placed in `on_order_filled`) trades a
minute of sandbox in both modes with the same verdicts: no order denied at all, in
particular no stop refused as REDUCE_ONLY_WOULD_INCREASE because the risk worker had
not applied the entry's fill yet (read-your-writes: the command carries the position
version its strategy saw, and risk waits for it; see docs/ARCHITECTURE.md).

Both modes run at once (two `livenode run` processes), each for `DURATION` seconds of
the sandbox's simulated venue; the summaries are the referee.
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from livenode.config.toml_writer import dumps_toml
from tests.acceptance.helpers import ROOT
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
)
from tests.fixtures.node.checks import check_summary

pytestmark = pytest.mark.slow

DURATION = 60


def _bracket_config(tmp_path: Path, base: str, trader_id: str) -> Path:
    document = tomllib.loads((ROOT / "configs" / base).read_text())
    document["trader_id"] = trader_id
    # The wait risk may spend for a strategy's state: generous, so that on a loaded
    # machine (load 8 on 2 cores) a slow risk worker waits rather than denies.
    document.setdefault("risk_engine", {})["state_wait"] = 5.0
    document["strategies"] = [{
        "path": "livenode.trading.examples.bracket:Bracket",
        "config_path": "livenode.trading.examples.bracket:BracketConfig",
        "config": {"instrument_id": "ETHUSDT-PERP.SIM", "trade_size": "0.1",
                   "stop_bps": 20.0, "hold_ticks": 100},
    }]
    path = tmp_path / f"{trader_id}.toml"
    path.write_text(dumps_toml(document))
    return path


def test_a_stop_placed_on_the_fill_is_never_judged_on_the_position_before_it(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    runs = {}
    for mode, base in (("single", "sandbox.toml"), ("multiprocess", "sandbox-multiprocess.toml")):
        config = _bracket_config(tmp_path, base, f"BRACKET-{mode.upper()}")
        summary_path = tmp_path / f"{mode}.summary.json"
        node = mp.start("run", config, "--duration", DURATION, "--summary-json", summary_path)
        runs[mode] = (node, summary_path)
    for mode, (node, summary_path) in runs.items():
        code = node.wait(timeout=DURATION + 120)
        assert code == 0, node.output()
        summary = json.loads(summary_path.read_text())
        assert summary["shutdown"]["clean"] is True, (mode, summary["shutdown"])
        assert summary["audit"]["books_match_venue"] is True, (mode, summary["audit"])
        # Same verdicts in both modes: every command approved.
        assert summary["risk_denials"] == {}, (mode, summary["risk_denials"])
        risk = summary["engines"]["RiskEngine"]
        assert risk["denied"] == 0 and risk["waiting_for_state"] == 0, (mode, risk)
        assert summary["orders"]["by_status"]["denied"] == 0, mode
        # Stops were placed all along (a bracket per entry, each canceled or filled).
        assert summary["orders"]["total"] >= 60, (mode, summary["orders"])
        assert summary["orders"]["by_status"]["canceled"] >= 20, (mode, summary["orders"])
        check_summary(summary, spot="BTCUSDT.SIM", perpetual="ETHUSDT-PERP.SIM")
        assert all(Decimal(p["net_quantity"]) == 0 for p in summary["positions"]), mode
