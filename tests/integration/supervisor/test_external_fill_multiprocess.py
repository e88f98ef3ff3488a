"""A fill the node did not ask for, in a multiprocess node: another session trades on
the account through the venue process. The exec worker adopts it as an EXTERNAL order
(no trader follows that strategy, so the exec worker reports it), and the summary's
fills and positions hold it, `livenode audit` and the stop's audit find the books equal
to the venue's, and the venue's own state file agrees."""

from __future__ import annotations

import json
import signal
import time
from decimal import Decimal
from pathlib import Path

import zmq
from tests.fixtures.multiprocess.books import venue_books
from tests.fixtures.multiprocess.harness import MultiprocessHarness, wait_until

from livenode.core.uuid import new_id
from livenode.model.codec import Codec
from livenode.model.commands import SubmitOrder
from livenode.model.enums import OrderSide, OrderType, TimeInForce
from livenode.model.events import OrderInitialized
from livenode.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TraderId
from livenode.model.objects import Quantity
from livenode.venues.sim.remote_protocol import NO_REPLY, ProtocolCodec, Request, venue_endpoints

IID = InstrumentId("BTCUSDT.SIM")
ADOPTED = "adopted as EXTERNAL order"


def _outside_submit(endpoint: str) -> None:
    """Send a market order to the venue process as another session would."""
    now = time.time_ns()
    init = OrderInitialized(
        trader_id=TraderId("OUTSIDE-001"), strategy_id=StrategyId("Desk-001"),
        instrument_id=IID, client_order_id=ClientOrderId(f"OUT-{new_id()[:8]}"),
        side=OrderSide.BUY, order_type=OrderType.MARKET, quantity=Quantity.from_str("0.00500"),
        time_in_force=TimeInForce.IOC, event_id=new_id(), ts_event=now, ts_init=now,
    )
    command = SubmitOrder(trader_id=init.trader_id, strategy_id=init.strategy_id,
                          command_id=new_id(), ts_init=now, ts_trigger=now, order=init)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 5000)
        dealer.connect(endpoint)
        dealer.send(ProtocolCodec().encode(
            Request(NO_REPLY, "submit", payload=Codec().encode(command))))
        dealer.close()  # lingers until the frame left
    finally:
        context.term()


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
    _outside_submit(command_endpoint)
    wait_until(lambda: ADOPTED in node.stderr(), 60, "the exec worker adopts the fill")

    audit = mp.cli("audit", "--trader", "MPEXT-001", "--json", timeout=60)
    assert audit.returncode == 0, audit.stdout + audit.stderr + node.stderr()[-6000:]
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
