"""The stop's flatten on a netting account that an EXTERNAL fill offsets, in a
multiprocess node: a strategy in the trader worker holds a short position, another
session buys most of it back on the account through the venue process, the exec worker
adopts that fill as EXTERNAL and its position reaches the trader worker's cache. At the
stop the strategy's reduce-only close takes only what the account's net lets it close:
the venue refuses nothing and ends flat, the stop's audit finds the books equal to the
venue's, the venue's own state file agrees, exit 0."""

from __future__ import annotations

import json
import signal
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.fixtures.multiprocess.books import venue_books
from tests.fixtures.multiprocess.harness import MultiprocessHarness, wait_stderr, wait_until
from tests.fixtures.multiprocess.outside import outside_submit

from livenode.model.identifiers import InstrumentId
from livenode.venues.sim.remote_protocol import venue_endpoints

IID = InstrumentId("BTCUSDT.SIM")
ADOPTED = "adopted as EXTERNAL order"
REDUCE_ONLY_REFUSED = "reduce-only"


def _fills(summary: dict[str, Any], strategy: str) -> list[tuple[str, Decimal]]:
    return [(f["side"], Decimal(f["quantity"])) for f in summary["fills"]
            if f["strategy_id"] == strategy]


def test_the_stops_close_takes_only_what_the_external_offset_leaves(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "flatten.toml"
    overlay.write_text(
        'trader_id = "MPFLAT-001"\n'
        "[[strategies]]\n"
        'path = "tests.fixtures.multiprocess.strategies:Hold"\n'
        'config_path = "tests.fixtures.multiprocess.strategies:HoldConfig"\n'
        "[strategies.config]\n"
        'side = "SELL"\nquantity = "0.05358"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", mp.config(overlay), "--summary-json", summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    wait_stderr(node, r"Hold: holding -0\.05358$", 60)
    (run_dir,) = mp.run_dirs()
    command_endpoint, _market = venue_endpoints(run_dir, "SIM")
    outside_submit(command_endpoint, "0.05000")
    wait_until(lambda: ADOPTED in node.stderr(), 60, "the exec worker adopts the fill")
    # The EXTERNAL position reached the trader worker's cache: the account's net there.
    wait_stderr(node, r"Hold: account net -0\.00358$", 60)

    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    stderr = node.stderr()
    assert "is offset on account SIM-001 by EXTERNAL +0.05000" in stderr, stderr[-6000:]
    assert _fills(summary, "Hold-001") == [("SELL", Decimal("0.05358")),
                                           ("BUY", Decimal("0.00358"))], summary["fills"]
    assert _fills(summary, "EXTERNAL") == [("BUY", Decimal("0.05"))]
    assert summary["rejections"] == {} and summary["risk_denials"] == {}, summary
    assert REDUCE_ONLY_REFUSED not in "".join(
        line for line in stderr.splitlines(keepends=True) if "rejected" in line.lower())
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    assert positions == {str(IID): Decimal(0)}, summary["positions"]
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    assert summary["strategy_states"]["Hold-001"]["manage_stop_timed_out"] is False
    assert summary["shutdown"]["clean"] and summary["exit_code"] == 0
    venue = venue_books(state)
    assert venue["positions"][str(IID)] == 0
    assert sorted(venue["trade_ids"]) == sorted(f["trade_id"] for f in summary["fills"])
    (account,) = summary["accounts"]
    assert {b["currency"]: Decimal(b["total"]) for b in account["balances"]} == venue["balances"]
