"""A fill the node did not ask for, in a multiprocess node: another session trades on
the account through the venue process. The exec worker adopts it as an EXTERNAL order
(no trader follows that strategy, so the exec worker reports it), and the summary's
fills and positions hold it, `livenode audit` and the stop's audit find the books equal
to the venue's, and the venue's own state file agrees."""

from __future__ import annotations

import json
import signal
from decimal import Decimal
from pathlib import Path

from tests.fixtures.multiprocess.books import venue_books
from tests.fixtures.multiprocess.harness import MultiprocessHarness, wait_until
from tests.fixtures.multiprocess.outside import outside_submit

from livenode.model.identifiers import InstrumentId
from livenode.venues.sim.remote_protocol import venue_endpoints

IID = InstrumentId("BTCUSDT.SIM")
ADOPTED = "adopted as EXTERNAL order"


def test_an_outside_fill_is_in_the_summary_and_the_audits_match_the_venue(
    mp: MultiprocessHarness, tmp_path: Path
) -> None:
    state = tmp_path / "venue.sqlite"
    overlay = tmp_path / "external.toml"
    overlay.write_text(
        'trader_id = "MPEXT-001"\n'
        "[[strategies]]\n"
        'path = "tests.fixtures.multiprocess.strategies:Idle"\n'
        'config_path = "tests.fixtures.multiprocess.strategies:IdleConfig"\n'
        f'[data_clients.SIM.config.venue_config]\nstate_path = "{state}"\n'
    )
    summary_path = tmp_path / "summary.json"
    node = mp.start("run", mp.config(overlay), "--summary-json", summary_path)
    node.wait_for_line(r"^node \S+ RUNNING \(4 workers\)$", timeout=60)
    (run_dir,) = mp.run_dirs()
    command_endpoint, _market = venue_endpoints(run_dir, "SIM")
    outside_submit(command_endpoint)  # BUY 0.00500
    wait_until(lambda: ADOPTED in node.log(), 60, "the exec worker adopts the fill")

    audit = mp.cli("audit", "--trader", "MPEXT-001", "--json", timeout=60)
    assert audit.returncode == 0, audit.stdout + audit.stderr + node.log()[-6000:]
    verdict = json.loads(audit.stdout)
    assert verdict["books_match_venue"] is True and verdict["venues"]["SIM"]["checked"] == [
        "orders", "positions", "balances", "fills"], verdict

    node.send(signal.SIGINT)
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    (fill,) = summary["fills"]
    assert fill["strategy_id"] == "EXTERNAL" and Decimal(fill["quantity"]) == Decimal("0.005")
    positions = {p["instrument_id"]: Decimal(p["net_quantity"]) for p in summary["positions"]}
    assert positions == {str(IID): Decimal("0.005")}
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]
    venue = venue_books(state)
    assert venue["trade_ids"] == [fill["trade_id"]]
    assert venue["positions"][str(IID)] == positions[str(IID)]
    (account,) = summary["accounts"]
    assert {b["currency"]: Decimal(b["total"]) for b in account["balances"]} == venue["balances"]
