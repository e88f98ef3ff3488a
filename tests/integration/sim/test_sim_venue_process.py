"""The sim venue as a process of its own: clients built in "process" mode by the
factories, real engines, real sockets; the venue keeps its orders across clients."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
from tests.integration.sim.sim_process_helpers import (
    NodeSide,
    make_run_dir,
    node_side,
    remove_run_dir,
    run_child,
    start_server,
    stop_server,
)
from tests.unit.adapters.sim_helpers import (
    BTC_ID,
    Recorder,
    cancel,
    submit,
    venue_config,
    wait_until,
)

from livenode.adapters.sim import (
    SimDataClientConfig,
    SimDataClientFactory,
    SimExecClient,
    SimExecClientConfig,
    SimExecClientFactory,
    SimVenues,
)
from livenode.bus import topics
from livenode.model.commands import SubscribeQuoteTicks
from livenode.model.data import QuoteTick
from livenode.model.enums import OrderStatus
from livenode.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
)
from livenode.model.identifiers import AccountId, Venue
from livenode.model.reports import FillReport, OrderStatusReport
from livenode.venues.sim import RemoteSimVenue, SimVenueUnavailable, venue_endpoints

SIM = Venue("SIM")


def data_config(**kw: object) -> SimDataClientConfig:
    return SimDataClientConfig(
        venue="SIM", venue_config=venue_config(rate_per_second=200.0), venue_mode="process",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = make_run_dir()
    yield path
    assert remove_run_dir(path) == [], "ipc files left behind"


@pytest.fixture
async def server(run_dir: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await start_server(data_config(), run_dir)
    yield proc
    assert await stop_server(proc) == 0
    assert sorted(p.name for p in run_dir.glob("*.ipc")) == []


async def test_clients_trade_against_the_venue_process(run_dir, server) -> None:
    node = node_side(run_dir)
    data_client = SimDataClientFactory.create("SIM", data_config(), node.context)
    exec_client = SimExecClientFactory.create(
        "SIM", SimExecClientConfig(venue_mode="process"), node.context
    )
    remote = node.context.shared(SimVenues).venues["SIM"]
    assert isinstance(remote, RemoteSimVenue)
    assert data_client.sim_venue is remote and exec_client.sim_venue is remote
    cmd_ep, md_ep = venue_endpoints(run_dir, "SIM")
    assert (remote.command_endpoint, remote.market_endpoint) == (cmd_ep, md_ep)
    node.data_engine.register_client(data_client)
    node.exec_engine.register_client(exec_client)
    try:
        await data_client.connect()
        await exec_client.connect()
        await trade(node, exec_client, remote)
        await exec_client.disconnect()
        assert remote.is_connected  # the data client still uses it
        await data_client.disconnect()
        assert not remote.is_connected
    finally:  # sockets closed even when an assertion failed
        await exec_client.disconnect()
        await data_client.disconnect()


async def trade(node: NodeSide, exec_client: SimExecClient, remote: RemoteSimVenue) -> None:
    orders, accounts, quotes = Recorder(), Recorder(), Recorder()
    node.msgbus.subscribe(topics.ALL_ORDER_EVENTS, orders)
    node.msgbus.subscribe(topics.ALL_ACCOUNT_EVENTS, accounts)
    node.msgbus.subscribe(topics.quotes(BTC_ID), quotes)
    # Instruments arrived at connect; the account state before connect returned.
    assert node.cache.instrument(BTC_ID) is not None
    assert exec_client.account_id == AccountId("SIM-001")
    assert node.cache.account(AccountId("SIM-001")) is not None

    node.msgbus.publish(
        topics.data_commands(SIM),
        SubscribeQuoteTicks(venue=SIM, instrument_id=BTC_ID, command_id="s1", ts_init=0),
    )
    await quotes.wait_type(QuoteTick, count=3, timeout=10)

    # A market order: submitted, accepted, filled (maybe in parts: a market order takes
    # the displayed size), and an account update after the fill.
    market = submit("BUY", "MARKET", "0.1")
    mkt_id = market.order.client_order_id
    node.msgbus.publish(topics.exec_commands(SIM), market)
    await orders.wait_type(OrderFilled, timeout=10)
    kinds = [type(e) for e in orders.items if e.client_order_id == mkt_id]
    assert kinds[:3] == [OrderSubmitted, OrderAccepted, OrderFilled]
    await accounts.wait_type(AccountState, timeout=5)
    await wait_until(lambda: node.cache.order(mkt_id).status is OrderStatus.FILLED, 10)

    # A resting limit far below the market, then its cancel.
    limit = submit("BUY", "LIMIT", "0.1", price="1000.00")
    node.msgbus.publish(topics.exec_commands(SIM), limit)
    coid = limit.order.client_order_id
    await orders.wait_for(lambda e: type(e) is OrderAccepted and e.client_order_id == coid)
    reports = await exec_client.generate_order_status_reports()
    assert [r.client_order_id for r in reports] == [coid]
    assert all(isinstance(r, OrderStatusReport) for r in reports)
    node.msgbus.publish(topics.exec_commands(SIM), cancel(limit))
    await orders.wait_for(lambda e: type(e) is OrderCanceled and e.client_order_id == coid)
    assert node.cache.order(coid).status is OrderStatus.CANCELED

    # Reports over the wire.
    assert await exec_client.generate_order_status_reports() == []
    fills = await exec_client.generate_fill_reports()
    assert fills and {f.client_order_id for f in fills} == {mkt_id}
    assert all(isinstance(f, FillReport) for f in fills)
    positions = await exec_client.generate_position_status_reports()
    assert [(p.instrument_id, p.position_side.value) for p in positions] == [(BTC_ID, "LONG")]
    assert remote.malformed == 0 and remote.event_gaps == 0


async def test_connect_fails_in_time_naming_the_endpoint_when_no_venue_runs(run_dir) -> None:
    node = node_side(run_dir)
    client = SimExecClientFactory.create(
        "SIM", SimExecClientConfig(venue_mode="process", connect_timeout=0.3), node.context
    )
    cmd_ep, _ = venue_endpoints(run_dir, "SIM")
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(SimVenueUnavailable, match=re.escape(cmd_ep)):
        await client.connect()
    assert loop.time() - start < 20  # the 0.3 s connect timeout ended it, not a hang
    assert not client.is_connected
    assert not client.sim_venue.is_connected


async def test_exec_client_with_another_account_id_fails_at_connect(run_dir, server) -> None:
    node = node_side(run_dir)
    client = SimExecClientFactory.create(
        "SIM", SimExecClientConfig(venue_mode="process", account_id="SIM-002"), node.context
    )
    with pytest.raises(ValueError, match="differs from the venue's account SIM-001"):
        await client.connect()
    assert not client.sim_venue.is_connected


async def test_venue_keeps_its_orders_when_a_client_process_dies(run_dir, server) -> None:
    # A node-side exec client in its own process places a resting order, then dies (-9).
    child = await run_child("tests/integration/sim/crash_client.py", str(run_dir), "1000.00")
    assert child.stdout is not None
    try:
        line = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert line.startswith("placed "), line
    coid = line.split()[1]

    # A new client (a restarted exec worker) attaches and finds the order at the venue.
    node = node_side(run_dir)
    client = SimExecClientFactory.create(
        "SIM", SimExecClientConfig(venue_mode="process"), node.context
    )
    events = Recorder()
    node.msgbus.deregister("ExecEngine.process")
    node.msgbus.register("ExecEngine.process", events)
    await client.connect()
    try:
        reports = await client.generate_order_status_reports()
        assert [str(r.client_order_id) for r in reports] == [coid]
        assert reports[0].order_status is OrderStatus.ACCEPTED
        # The new client receives the account's events: cancel the recovered order.
        client.cancel_order(cancel_for(reports[0]))
        await events.wait_for(
            lambda e: type(e) is OrderCanceled and str(e.client_order_id) == coid
        )
    finally:
        await client.disconnect()


def cancel_for(report: OrderStatusReport):  # type: ignore[no-untyped-def]
    from tests.unit.adapters.sim_helpers import STRATEGY, TRADER

    from livenode.model.commands import CancelOrder

    return CancelOrder(
        trader_id=TRADER, strategy_id=STRATEGY, command_id="c", ts_init=0, ts_trigger=0,
        instrument_id=report.instrument_id, client_order_id=report.client_order_id,
        venue_order_id=report.venue_order_id,
    )


async def test_venue_process_stops_when_its_parent_dies(run_dir) -> None:
    # An intermediate parent starts the venue (with --parent = itself), reports, and exits.
    (spec,) = SimDataClientFactory.services("SIM", data_config(), str(run_dir))
    launcher = (
        "import json, os, subprocess, sys\n"
        "argv = json.loads(sys.argv[1])\n"
        "argv[argv.index('--parent') + 1] = str(os.getpid())\n"
        "p = subprocess.Popen(argv, stdout=subprocess.PIPE)\n"
        "print(p.stdout.readline().decode().strip(), p.pid, flush=True)\n"
    )
    parent = await run_child("-c", launcher, json.dumps(spec.argv))
    assert parent.stdout is not None
    line = (await asyncio.wait_for(parent.stdout.readline(), 30)).decode().split()
    assert await asyncio.wait_for(parent.wait(), 10) == 0
    assert line[0] == "ready"
    orphan = psutil.Process(int(line[1]))
    gone, alive = await asyncio.to_thread(psutil.wait_procs, [orphan], 10)
    for proc in alive:  # keep the machine clean even when the test fails
        proc.kill()
    assert gone and not alive, "the venue process outlived its parent"
    assert sorted(p.name for p in run_dir.glob("*.ipc")) == []


async def test_sigint_stops_the_venue_process_cleanly(run_dir) -> None:
    proc = await start_server(data_config(), run_dir)
    proc.send_signal(signal.SIGINT)
    try:
        rc = await asyncio.wait_for(proc.wait(), 10)
    finally:
        await stop_server(proc)  # only acts if SIGINT did not stop it
    assert rc == 0
    assert sorted(p.name for p in run_dir.glob("*.ipc")) == []
