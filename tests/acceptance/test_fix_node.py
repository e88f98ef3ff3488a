"""`livenode run` trading over FIX against the real peer (a QuickFIX acceptor process).

The node runs as a user runs it (a subprocess of the CLI) with the fixed-price data
client for quotes and the FIX execution client for orders; its summary must match the
acceptor's own record of fills. A SIGKILL of the node, then a new node on the same data
directory, must continue the session from the persisted sequence numbers (no reset, no
"MsgSeqNum too low") and send nothing twice.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

pytest.importorskip("quickfix", reason="the quickfix wheel is built by scripts/test")

from livenode.adapters.fix.seqnums import NAMESPACE, SeqNums, seqnums_key
from livenode.cache.database import DatabaseBackend, RedisBackend, SqliteBackend
from tests.acceptance.helpers import LivenodeProcess
from tests.fixtures.database.redis_server import RedisServer
from tests.peers.harness import AcceptorProcess

pytestmark = pytest.mark.slow


def _config(path: Path, port: int, data_dir: Path, round_trips: int, mode: str = "single",
            extra: str = "") -> Path:
    text = (Path(__file__).resolve().parents[2] / "configs" / "fix-sandbox.toml").read_text()
    text = text.replace("port = 9876", f"port = {port}")
    text = text.replace('data_dir = "data/fix-sandbox/node"', f'data_dir = "{data_dir}"')
    text = text.replace("round_trips = 5", f"round_trips = {round_trips}")
    text = text.replace('mode = "single"', f'mode = "{mode}"')
    text = text.replace("quote_interval = 0.2", "quote_interval = 0.05")
    if mode == "multiprocess":
        text += "\n[timeouts]\nshutdown = 40  # more than the sum of the stop phases\n"
    path.write_text(text + extra)
    return path


@pytest.fixture
def acceptor(tmp_path: Path) -> Iterator[AcceptorProcess]:
    proc = AcceptorProcess(tmp_path / "acceptor").start()
    try:
        yield proc
    finally:
        assert proc.stop() in (0, None), proc.output()


def _wait_log(node: LivenodeProcess, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in node.log():
        assert node.proc.poll() is None, node.output()
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{node.output()}"
        time.sleep(0.1)


def _summary_fills(summary: dict) -> list[tuple[str, str, str, str]]:  # type: ignore[type-arg]
    return sorted((f["trade_id"], f["side"], f["quantity"], f["price"])
                  for f in summary["fills"])


def _acceptor_fills(acceptor: AcceptorProcess) -> list[tuple[str, str, str, str]]:
    return sorted((f["exec_id"], f["side"], f'{float(f["last_qty"]):.3f}',
                   f'{float(f["last_px"]):.2f}') for f in acceptor.fills())


@pytest.mark.parametrize("mode", ["single", "multiprocess"])
def test_a_node_trades_over_fix_and_its_summary_matches_the_acceptor(
    livenode: Callable[..., LivenodeProcess], acceptor: AcceptorProcess, tmp_path: Path,
    mode: str,
) -> None:
    config = _config(tmp_path / "fix.toml", acceptor.port, tmp_path / "node", 3, mode)
    summary_path = tmp_path / "fix.summary.json"
    node = livenode("run", config, "--summary-json", summary_path)
    _wait_log(node, "round trips done: 3")
    node.send(signal.SIGINT)
    assert node.wait(90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["mode"] == mode and summary["counters"]["fills"] == 6
    assert _summary_fills(summary) == _acceptor_fills(acceptor)


def test_a_killed_node_continues_the_session_and_sends_nothing_twice(
    livenode: Callable[..., LivenodeProcess], acceptor: AcceptorProcess, tmp_path: Path
) -> None:
    data_dir = tmp_path / "node"
    first = livenode("run", _config(tmp_path / "a.toml", acceptor.port, data_dir, 2))
    _wait_log(first, "round trips done: 2")
    first.proc.send_signal(signal.SIGKILL)
    first.wait(30)
    seqnums = data_dir / "fix-NODE-VENUE.seqnums"
    after_first = json.loads(seqnums.read_text())
    summary_path = tmp_path / "b.summary.json"
    second = livenode("run", _config(tmp_path / "b.toml", acceptor.port, data_dir, 2),
                      "--summary-json", summary_path)
    _wait_log(second, "round trips done: 2")
    second.send(signal.SIGINT)
    assert second.wait(60) == 0, second.output()
    stderr = second.log()
    assert "MsgSeqNum too low" not in stderr and "rejecting message" not in stderr
    after_second = json.loads(seqnums.read_text())
    # Continued, not reset: both numbers moved on from where the killed node left them.
    assert after_second["next_out"] > after_first["next_out"] > 1
    assert after_second["next_in"] > after_first["next_in"] > 1
    orders = json.loads((acceptor.directory / "orders.json").read_text())["orders"]
    cl_ord_ids = [o["cl_ord_id"] for o in orders]
    assert len(cl_ord_ids) == len(set(cl_ord_ids)) == 8  # nothing sent twice
    assert all(o["status"] == "2" for o in orders)
    assert len(acceptor.fills()) == 8
    summary = json.loads(summary_path.read_text())
    fills = _summary_fills(summary)
    own = [f for f in fills if not f[0].startswith("RECON-")]
    recovered = [f for f in fills if f[0].startswith("RECON-")]
    venue = _acceptor_fills(acceptor)
    assert len(own) == 4 and set(own) <= set(venue)
    # Without a database the second node recovered the killed one's 4 filled orders
    # from the venue's mass status (FIX has no fill history): one fill inferred for each,
    # matching the venue's fills of those orders in side, quantity and price.
    assert sorted(f[1:] for f in recovered) == sorted(f[1:] for f in venue if f not in own)
    assert summary["counters"]["fills"] == 8
    assert summary["audit"]["books_match_venue"] is True, summary["audit"]


@pytest.fixture(params=["sqlite", "redis"])
def database(request: pytest.FixtureRequest, tmp_path: Path
             ) -> Iterator[tuple[str, DatabaseBackend]]:
    """A `[cache.database]` table (a real SQLite file, or a real redis-server stopped by
    pid after the test) and a backend over the same store, to read what the node wrote."""
    trader = "FIXSANDBOX-001"
    if request.param == "sqlite":
        path = tmp_path / "node.sqlite"
        yield (f'\n[cache.database]\ntype = "sqlite"\npath = "{path}"\n',
               SqliteBackend(trader, path))
        return
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield (f'\n[cache.database]\ntype = "redis"\nhost = "127.0.0.1"\n'
               f'port = {server.port}\n', RedisBackend(trader, port=server.port))
    finally:
        server.stop()


def _stored_seqnums(backend: DatabaseBackend) -> SeqNums:
    backend.open()
    try:
        raw = backend.read_kv(NAMESPACE, seqnums_key("NODE", "VENUE"))
    finally:
        backend.close()
    assert raw is not None, "no FIX sequence numbers in the cache database"
    return msgspec.msgpack.decode(raw, type=SeqNums)


def test_a_killed_node_with_a_cache_database_continues_the_session_from_it(
    livenode: Callable[..., LivenodeProcess], acceptor: AcceptorProcess, tmp_path: Path,
    database: tuple[str, DatabaseBackend],
) -> None:
    """The sequence numbers live in the cache database (SQLite, Redis), written before
    each message leaves: a SIGKILLed node's successor logs on where it left off."""
    db_toml, backend = database
    data_dir = tmp_path / "node"
    first = livenode("run", _config(tmp_path / "a.toml", acceptor.port, data_dir, 2,
                                    extra=db_toml))
    _wait_log(first, "round trips done: 2")
    first.proc.send_signal(signal.SIGKILL)
    first.wait(30)
    assert "FIX sequence numbers in cache database fix/seqnums/NODE/VENUE" in first.log()
    after_first = _stored_seqnums(backend)
    summary_path = tmp_path / "b.summary.json"
    second = livenode("run", _config(tmp_path / "b.toml", acceptor.port, data_dir, 2,
                                     extra=db_toml), "--summary-json", summary_path)
    _wait_log(second, "round trips done: 2")
    second.send(signal.SIGINT)
    assert second.wait(60) == 0, second.output()
    stderr = second.log()
    assert "MsgSeqNum too low" not in stderr and "rejecting message" not in stderr
    events = "".join(p.read_text() for p in (acceptor.directory / "log").glob("*event*"))
    assert "logon" in events.lower() and "too low" not in events.lower()
    after_second = _stored_seqnums(backend)
    assert after_second.next_out > after_first.next_out > 1
    assert after_second.next_in > after_first.next_in > 1
    # No file next to it: the database is the only store.
    assert not list(data_dir.glob("fix-*.seqnums"))
    orders = json.loads((acceptor.directory / "orders.json").read_text())["orders"]
    cl_ord_ids = [o["cl_ord_id"] for o in orders]
    assert len(cl_ord_ids) == len(set(cl_ord_ids)) == 8  # nothing sent twice
    assert len(acceptor.fills()) == 8
    # The second node restored the first one's fills from the database: its books
    # hold every fill the acceptor made, each once.
    summary = json.loads(summary_path.read_text())
    assert summary["counters"]["fills"] == 8
    assert _summary_fills(summary) == _acceptor_fills(acceptor)
