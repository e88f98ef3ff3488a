"""`SimVenueServer` and `RemoteSimVenue` in one loop; factory modes and the services hook."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from livenode.adapters.sim import (
    SimDataClient,
    SimDataClientConfig,
    SimDataClientFactory,
    SimExecClient,
    SimExecClientConfig,
    SimExecClientFactory,
    SimVenues,
)
from livenode.adapters.sim.factories import resolve_venue_mode
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import LiveClock
from livenode.engines.clients import ClientContext
from livenode.model.codec import Codec
from livenode.model.events import AccountState, OrderAccepted, OrderFilled
from livenode.model.identifiers import TraderId
from livenode.node.services import ServiceSpec
from livenode.venues.sim import RemoteSimVenue, SimVenue, SimVenueConfig, venue_endpoints
from livenode.venues.sim.remote_protocol import ProtocolCodec, Reply, Request
from livenode.venues.sim.server import SimVenueServer
from tests.unit.adapters.sim_helpers import BTC_ID, Recorder, submit, venue_config, wait_until


@pytest.fixture
def run_dir() -> Any:
    # Short on purpose: ipc paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="lnsim-", dir="/tmp"))
    yield path
    left = sorted(p.name for p in path.glob("*.ipc"))
    shutil.rmtree(path, ignore_errors=True)
    assert left == [], "ipc files left behind"


def context_for(run_dir: Path | None) -> ClientContext:
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)

    return ClientContext(loop=loop, msgbus=MessageBus(TraderId("TESTER-001"), clock),
                         cache=Cache(), clock=clock,
                         run_dir=None if run_dir is None else str(run_dir))


@pytest.fixture
async def server(run_dir: Path) -> AsyncIterator[SimVenueServer]:
    loop = asyncio.get_running_loop()
    cmd, md = venue_endpoints(run_dir, "SIM")
    srv = SimVenueServer(venue_config(rate_per_second=500.0), "SIM", cmd, md, loop,
                         LiveClock(loop))
    srv.start()
    yield srv
    srv.stop()


# -- in one loop ------------------------------------------------------------------------


async def test_remote_venue_round_trip_in_one_loop(server: SimVenueServer, run_dir: Path):
    loop = asyncio.get_running_loop()
    remote = RemoteSimVenue("SIM", server.command_endpoint, server.market_endpoint, loop,
                            LiveClock(loop))
    await remote.connect()
    assert {i.id for i in remote.instruments()} == {i.id for i in server.venue.instruments()}
    assert remote.session == server.venue.session
    market, account = Recorder(), Recorder()
    remote.subscribe_market(market)
    remote.set_market_interest("quote", BTC_ID, True)
    assert await remote.attach(account) == server.venue.account_id
    assert account.of(AccountState)  # delivered before attach() returned
    await market.wait_for(lambda m: getattr(m, "instrument_id", None) == BTC_ID, count=3)
    remote.submit(submit("BUY", "MARKET", "0.01"))
    await account.wait_type(OrderFilled)
    assert [type(e) for e in account.items[1:3]] == [OrderAccepted, OrderFilled]
    assert remote.account_state() is account.of(AccountState)[-1]
    assert await remote.ping() >= 0
    await remote.disconnect()
    assert not remote.is_connected
    await wait_until(lambda: server.attached == [])  # the detach reached the venue


async def test_server_drops_and_counts_malformed_frames(server: SimVenueServer):
    ctx: zmq.Context[Any] = zmq.Context()
    proto, codec = ProtocolCodec(), Codec()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(server.command_endpoint)
    poller = zmq.Poller()
    poller.register(dealer, zmq.POLLIN)

    async def reply() -> Reply:
        # The server runs on this loop: yield to it while waiting for the answer.
        await wait_until(lambda: bool(poller.poll(0)))
        msg = proto.decode(dealer.recv())
        assert isinstance(msg, Reply)
        return msg

    try:
        dealer.send(b"\xff\x00garbage")
        dealer.send_multipart([b"two", b"frames"])
        dealer.send(proto.encode(Reply(1)))  # a reply is not a request
        dealer.send(proto.encode(Request(5, "submit", b"not a command")))
        bad = await reply()
        assert bad.request_id == 5 and not bad.ok and "submit" in bad.error
        dealer.send(proto.encode(Request(6, "cancel", codec.encode(submit()))))  # wrong type
        wrong = await reply()
        assert not wrong.ok and "expected CancelOrder, got SubmitOrder" in wrong.error
        dealer.send(proto.encode(Request(7, "ping")))
        pong = await reply()
        assert pong.ok and pong.venue == "SIM" and pong.account_id == "SIM-001"
        assert server.malformed == 5
    finally:
        dealer.close(linger=0)
        ctx.term()


async def test_remote_drops_and_counts_malformed_market_frames(server: SimVenueServer):
    loop = asyncio.get_running_loop()
    remote = RemoteSimVenue("SIM", server.command_endpoint, server.market_endpoint, loop,
                            LiveClock(loop))
    await remote.connect()
    market = Recorder()
    remote.subscribe_market(market)
    remote.set_market_interest("quote", BTC_ID, True)
    await market.wait_for(lambda m: getattr(m, "instrument_id", None) == BTC_ID)
    pub = server._pub  # inject garbage where the venue publishes
    assert pub is not None
    pub.send(b"quote.BTCUSDT.SIM\x00garbage")
    pub.send(b"instrument.no-separator")
    await wait_until(lambda: remote.malformed == 2)
    seen = len(market.items)
    await market.wait_for(lambda m: True, count=seen + 2)  # still delivering
    await remote.disconnect()


async def test_connect_to_a_venue_of_another_name_fails(server: SimVenueServer):
    loop = asyncio.get_running_loop()
    remote = RemoteSimVenue("OTHER", server.command_endpoint, server.market_endpoint, loop,
                            LiveClock(loop))
    with pytest.raises(ValueError, match="serves venue 'SIM'"):
        await remote.connect()
    assert not remote.is_connected


# -- factories and modes ----------------------------------------------------------------


def test_venue_endpoints_and_mode_resolution():
    assert venue_endpoints("/run/x", "SIM") == (
        "ipc:///run/x/sim-SIM-cmd.ipc", "ipc:///run/x/sim-SIM-md.ipc"
    )
    assert resolve_venue_mode("auto", None) == "embedded"
    assert resolve_venue_mode("auto", "/x") == "process"
    assert resolve_venue_mode("embedded", "/x") == "embedded"
    assert resolve_venue_mode("process", None) == "process"


async def test_auto_mode_builds_remote_venues_under_a_supervisor(run_dir: Path):
    context = context_for(run_dir)
    # The exec client first, alone: an exec worker has no data client.
    exec_client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    data_client = SimDataClientFactory.create("SIM", SimDataClientConfig(), context)
    assert isinstance(exec_client, SimExecClient) and isinstance(data_client, SimDataClient)
    remote = context.shared(SimVenues).venues["SIM"]
    assert isinstance(remote, RemoteSimVenue)
    assert exec_client.sim_venue is remote and data_client.sim_venue is remote
    assert remote.command_endpoint == venue_endpoints(run_dir, "SIM")[0]


async def test_auto_mode_without_run_dir_stays_embedded():
    context = context_for(None)
    SimDataClientFactory.create("SIM", SimDataClientConfig(), context)
    assert isinstance(context.shared(SimVenues).venues["SIM"], SimVenue)


async def test_mixed_modes_in_one_process_are_refused(run_dir: Path):
    context = context_for(run_dir)
    SimDataClientFactory.create("SIM", SimDataClientConfig(venue_mode="embedded"), context)
    with pytest.raises(ValueError, match="same venue_mode"):
        SimExecClientFactory.create("SIM", SimExecClientConfig(venue_mode="process"), context)
    other = context_for(run_dir)
    SimDataClientFactory.create("SIM", SimDataClientConfig(venue_mode="process"), other)
    with pytest.raises(ValueError, match="same venue_mode"):
        SimExecClientFactory.create("SIM", SimExecClientConfig(venue_mode="embedded"), other)


async def test_process_mode_without_run_dir_says_what_is_missing():
    with pytest.raises(LookupError, match=r"context\.run_dir"):
        SimExecClientFactory.create(
            "SIM", SimExecClientConfig(venue_mode="process"), context_for(None)
        )


def test_services_hook_gives_the_venue_process_command_line(tmp_path):
    cfg = SimDataClientConfig(venue="SIM", venue_config=venue_config(seed=9))
    run_dir = str(tmp_path)
    (spec,) = SimDataClientFactory.services("SIM", cfg, run_dir)
    assert isinstance(spec, ServiceSpec)
    assert spec.name == "sim-SIM" and spec.ready_line == "ready"
    argv = spec.argv
    assert argv[:3] == [sys.executable, "-m", "livenode.venues.sim.server"]
    opts = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert opts["--venue"] == "SIM"
    assert (opts["--command"], opts["--market"]) == venue_endpoints(run_dir, "SIM")
    assert opts["--parent"] == str(os.getpid())
    # The venue config goes through a file of the run directory only its user reads,
    # never the command line (other users see a process's arguments).
    assert "--config-json" not in opts
    config_file = Path(opts["--config-file"])
    assert config_file.parent == tmp_path
    assert config_file.stat().st_mode & 0o777 == 0o600
    decoded = msgspec.json.decode(config_file.read_bytes(), type=SimVenueConfig)
    assert decoded == cfg.venue_config
    json.loads(config_file.read_text())  # plain JSON a person may read
    embedded = SimDataClientConfig(venue_mode="embedded")
    assert SimDataClientFactory.services("SIM", embedded, run_dir) == []
