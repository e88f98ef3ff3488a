"""The stop's flatten on a netting account that an EXTERNAL fill offsets, in a
multiprocess node: a strategy in the trader worker holds a short position, another
session buys most of it back on the account through the venue process, the exec worker
adopts that fill as EXTERNAL and its position reaches the trader worker's cache. At the
stop the strategy's reduce-only close takes only what the account's net lets it close:
the venue refuses nothing and ends flat, the stop's audit finds the books equal to the
venue's, the venue's own state file agrees, exit 0."""

from __future__ import annotations

import json
import re
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from tests.fixtures.multiprocess.books import traded, venue_books
from tests.fixtures.multiprocess.harness import MultiprocessHarness, wait_log, wait_until
from tests.fixtures.multiprocess.outside import outside_submit

from livenode.model.enums import TimeInForce
from livenode.model.identifiers import InstrumentId
from livenode.venues.sim.remote_protocol import venue_endpoints

IID = InstrumentId("BTCUSDT.SIM")
ADOPTED = "adopted as EXTERNAL order"
REDUCE_ONLY_REFUSED = "reduce-only"


@pytest.mark.parametrize(("external", "before", "closed", "after", "account"), [
    # The account is short 0.00358 at the stop: the close buys back that, not 0.05358,
    # and the account ends flat.
    ("0.05000", "-0.00358", [("BUY", Decimal("0.00358"))], Decimal(0), "net -0.00358"),
    # The account is long already: no close; the venue holds what the books add up to.
    ("0.06000", "0.00642", [], Decimal("0.00642"), "net +0.00642 (the other way)"),
])
def test_the_stops_close_takes_only_what_the_external_offset_leaves(
    mp: MultiprocessHarness, tmp_path: Path, external: str, before: str,
    closed: list[tuple[str, Decimal]], after: Decimal, account: str,
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
    wait_log(node, r"Hold: holding -0\.05358$", 60)
    (run_dir,) = mp.run_dirs()
    command_endpoint, _market = venue_endpoints(run_dir, "SIM")
    # GTC: bought whole, over as many quotes as it takes (one EXTERNAL fill each).
    outside_submit(command_endpoint, external, time_in_force=TimeInForce.GTC)
    wait_until(lambda: ADOPTED in node.log(), 60, "the exec worker adopts the fill")
    # The EXTERNAL position reached the trader worker's cache: the account's net there.
    wait_log(node, rf"Hold: account net {re.escape(before)}$", 60)

    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    stderr = node.log()
    offset = (f"is offset on account SIM-001 by EXTERNAL +{external}: the account is "
              f"{account} in BTCUSDT.SIM")
    assert offset in stderr, stderr[-6000:]
    assert traded(summary, "Hold-001") == [("SELL", Decimal("0.05358")), *closed], (
        summary["fills"])
    assert traded(summary, "EXTERNAL") == [("BUY", Decimal(external))]
    # Nothing refused by the venue; risk may have denied the entry before its first
    # quote arrived (the Hold tries again), never a close.
    assert summary["rejections"] == {}, summary["rejections"]
    assert set(summary["risk_denials"]) <= {"NO_MARKET_PRICE"}, summary["risk_denials"]
    assert not [line for line in stderr.splitlines()
                if "rejected" in line and REDUCE_ONLY_REFUSED in line]
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    assert positions == {str(IID): after}, summary["positions"]
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    assert summary["strategy_states"]["Hold-001"]["manage_stop_timed_out"] is False
    assert summary["shutdown"]["clean"] and summary["exit_code"] == 0
    venue = venue_books(state)
    assert venue["positions"][str(IID)] == after
    assert sorted(venue["trade_ids"]) == sorted(f["trade_id"] for f in summary["fills"])
    (account_row,) = summary["accounts"]
    balances = {b["currency"]: Decimal(b["total"]) for b in account_row["balances"]}
    assert balances == venue["balances"]
