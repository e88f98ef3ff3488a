"""Issue 18: `status`, `stop`, `audit` and `clean` check the run base like `run` does,
`clean` touches only its own run base, and `--instance` takes a unique prefix.

Real directories, real sockets, real shared memory and real (dead or sleeping) node
processes; nothing of the filesystem is mocked. The tests of another owner chown to
uid 65534 (nobody) and need root (CI runs as root).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from livenode.cache.shm import list_segments
from livenode.cli.control import run_control_command
from livenode.cli.main import build_parser
from livenode.supervisor.rundir import RUN_BASE_ENV, RunDir, create_run_dir

NOBODY = 65534
COMMANDS = ["status", "stop", "audit", "clean"]
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="chown to another uid needs root")

# A node killed before it could clean up: its run directory (and trader lock) in the
# given run base ("-": none), its shared memory if asked; then it ends without
# removing anything, as a SIGKILL would leave it.
DEAD_NODE = """
import os, sys
from pathlib import Path
from livenode.cache.shm import ShmTables
from livenode.supervisor.rundir import create_run_dir
trader, instance, base, shm = sys.argv[1:5]
if base != "-":
    create_run_dir(trader, instance, Path(base))
if shm == "1":
    ShmTables.create(trader, instance)
os._exit(0)
"""


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_control_command(build_parser().parse_args(list(argv)))
    out, err = capsys.readouterr()
    return code, out, err


def _dead_node(trader: str, instance: str, base: Path | None, shm: bool) -> None:
    subprocess.run(
        [sys.executable, "-c", DEAD_NODE, trader, instance, str(base) if base else "-",
         "1" if shm else "0"],
        check=True, timeout=60,
    )


@pytest.fixture
def trader() -> str:
    """A trader id no other test uses: its segments are this test's alone."""
    return f"RB{uuid.uuid4().hex[:10].upper()}-001"


@pytest.fixture
def second_trader(trader: str) -> str:
    return trader.replace("-001", "-002")


@pytest.fixture
def segments_of(trader: str, second_trader: str) -> Iterator[None]:
    """Remove every segment of the test's trader ids it left; check none is left."""
    yield
    for trader_id in (trader, second_trader):
        for segment in list_segments(trader_id, invalid_grace_s=0.0):
            os.unlink(segment.path)
        assert not list_segments(trader_id, invalid_grace_s=0.0)


def _args(command: str) -> list[str]:
    return [command, "--timeout", "1"] if command != "clean" else [command]


# -- the run base: refused unless this user's alone ----------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_an_open_run_base_is_refused(
    command: str, own_run_base: Path, trader: str, second_trader: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _dead_node(trader, "dead", own_run_base, shm=False)  # what clean would remove
    live = create_run_dir(second_trader, "live", own_run_base)  # what stop would stop
    try:
        own_run_base.chmod(0o777)
        code, out, err = _cli(capsys, *_args(command))
        assert code == 1 and out == ""
        assert err == (f"error: run base {own_run_base}: mode 0777 lets other users in "
                       f"(owner uid {os.getuid()}); expected 0700 (chmod 700 {own_run_base})\n")
        assert sorted(p.name for p in own_run_base.iterdir()) == sorted([
            f"{trader}-dead", f"{trader}.lock", f"{second_trader}-live",
            f"{second_trader}.lock"])
    finally:
        own_run_base.chmod(0o700)
        live.remove()


def test_the_command_line_refuses_an_open_run_base_in_one_line(tmp_path: Path) -> None:
    base = tmp_path / "open"
    base.mkdir(mode=0o700)
    base.chmod(0o757)
    result = subprocess.run(
        [sys.executable, "-m", "livenode", "clean"], env={**os.environ, RUN_BASE_ENV: str(base)},
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: run base {base}: mode 0757 lets other users in (owner uid {os.getuid()}); "
        f"expected 0700 (chmod 700 {base})"
    ]


@needs_root
@pytest.mark.parametrize("command", COMMANDS)
def test_a_run_base_of_another_user_is_refused(
    command: str, own_run_base: Path, trader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead_node(trader, "dead", own_run_base, shm=False)
    os.chown(own_run_base, NOBODY, NOBODY)
    code, out, err = _cli(capsys, *_args(command))
    assert code == 1 and out == ""
    assert err == (f"error: run base {own_run_base}: owned by uid {NOBODY}, not by this user "
                   f"(uid 0) (mode 0700); set {RUN_BASE_ENV} to a directory of your own\n")
    assert (own_run_base / f"{trader}-dead").is_dir()  # clean removed nothing


@needs_root
@pytest.mark.parametrize("command", COMMANDS)
def test_a_run_directory_of_another_user_is_refused(
    command: str, own_run_base: Path, trader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _dead_node(trader, "dead", own_run_base, shm=False)
    run_dir = own_run_base / f"{trader}-dead"
    os.chown(run_dir, NOBODY, NOBODY)
    code, out, err = _cli(capsys, *_args(command))
    assert code == 1 and out == ""
    assert err == (f"error: run directory {run_dir}: owned by uid {NOBODY}, not by this user "
                   f"(uid 0) (mode 0700); set {RUN_BASE_ENV} to a directory of your own\n")
    assert run_dir.is_dir()


@pytest.fixture
def listening(own_run_base: Path, trader: str) -> Iterator[tuple[RunDir, socket.socket]]:
    """A live node's run directory (this process's) with a real listening ipc socket
    at control.ipc, as an impostor would plant it."""
    run_dir = create_run_dir(trader, "live", own_run_base)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(run_dir.path / "control.ipc"))
        server.listen(8)
        server.setblocking(False)
        yield run_dir, server
    finally:
        server.close()
        run_dir.remove()


@needs_root
@pytest.mark.parametrize("command", ["status", "stop", "audit"])
def test_a_control_socket_of_another_user_is_refused_before_connecting(
    command: str, listening: tuple[RunDir, socket.socket], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, server = listening
    path = run_dir.path / "control.ipc"
    mode = path.lstat().st_mode & 0o7777
    os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    code, out, err = _cli(capsys, *_args(command))
    assert code == 1 and out == ""
    assert err == (f"error: {path}: owned by uid {NOBODY}, not by this user (uid 0) "
                   f"(mode {mode:04o}); not talking to it\n")
    with pytest.raises(BlockingIOError):
        server.accept()  # nobody connected


@needs_root
def test_a_node_socket_of_another_user_is_refused_by_audit(
    own_run_base: Path, trader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = create_run_dir(trader, "single", own_run_base)  # a single-process node's
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path = run_dir.path / "node.ipc"
        server.bind(str(path))
        server.listen(8)
        server.setblocking(False)
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        code, _, err = _cli(capsys, "audit", "--timeout", "1")
        assert code == 1 and err.startswith(f"error: {path}: owned by uid {NOBODY}, not by")
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
        run_dir.remove()


def test_a_control_ipc_that_is_not_a_socket_is_refused(
    own_run_base: Path, trader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = create_run_dir(trader, "live", own_run_base)
    try:
        (run_dir.path / "control.ipc").write_text("")  # a plain file
        code, _, err = _cli(capsys, "status", "--timeout", "1")
        assert code == 1
        assert err.startswith(f"error: {run_dir.path / 'control.ipc'}: not a socket (owner uid")
    finally:
        run_dir.remove()


# -- clean: only its own run base's leftovers ----------------------------------------------


def test_clean_removes_only_the_shared_memory_its_run_base_records(
    own_run_base: Path, trader: str, second_trader: str, segments_of: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other_base = Path(tempfile.mkdtemp(prefix="lnb-other-", dir="/tmp"))
    try:
        # This run base: a killed node with its shared memory, and one of another
        # trader id killed before it made any.
        _dead_node(trader, "mine", own_run_base, shm=True)
        _dead_node(second_trader, "twin", own_run_base, shm=False)
        # Another run base's killed node of that trader and instance id (its segments
        # have the very names this base's would have had), and a dead process's
        # segments no run base records: stale, named like ours, not ours.
        _dead_node(second_trader, "twin", other_base, shm=True)
        _dead_node(trader, "nobody", None, shm=True)
        mine, nobody, twin = (
            sorted(s.name for s in list_segments(t) if s.instance_id == i and s.stale)
            for t, i in ((trader, "mine"), (trader, "nobody"), (second_trader, "twin"))
        )
        assert mine and nobody and twin
        assert sorted(s.name for s in list_segments(trader)) == sorted(mine + nobody)

        # Another trader id's leftovers only: none of these.
        code, out, _ = _cli(capsys, "clean", "--trader", "OTHER-001")
        assert (code, out) == (0, "nothing to clean\n")

        code, out, err = _cli(capsys, "clean", "--trader", trader)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[:2] == [f"removed run directory {trader}-mine",
                             f"removed trader lock {trader}.lock (no node holds it)"]
        assert sorted(line.split()[3] for line in lines[2:]) == mine
        assert all(line.endswith(" is gone)") for line in lines[2:])
        assert sorted(s.name for s in list_segments(trader)) == nobody

        # Without --trader: the rest of this run base; the other base's node's
        # segments (same names as this base's dead node would have) stay.
        code, out, _ = _cli(capsys, "clean")
        assert code == 0
        assert out.splitlines() == [
            f"removed run directory {second_trader}-twin",
            f"removed trader lock {second_trader}.lock (no node holds it)",
        ]
        assert list(own_run_base.iterdir()) == []
        assert sorted(s.name for s in list_segments(second_trader)) == twin
        assert sorted(s.name for s in list_segments(trader)) == nobody
        assert _cli(capsys, "clean")[:2] == (0, "nothing to clean\n")

        # The other run base's clean removes its own node's.
        code, out, _ = _cli(capsys, "clean", "--run-base", str(other_base))
        assert code == 0 and f"removed run directory {second_trader}-twin" in out
        assert list_segments(second_trader) == []
        assert sorted(s.name for s in list_segments(trader)) == nobody  # still nobody's
    finally:
        shutil.rmtree(other_base, ignore_errors=True)


def test_clean_leaves_a_live_nodes_shared_memory(
    own_run_base: Path, trader: str, segments_of: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from livenode.cache.shm import ShmTables

    run_dir = create_run_dir(trader, "live", own_run_base)
    try:
        with ShmTables.create(trader, "live") as tables:
            code, out, _ = _cli(capsys, "clean")
            assert (code, out) == (0, "nothing to clean\n")
            assert all(Path("/dev/shm", name).exists() for name in tables.segment_names)
    finally:
        run_dir.remove()


# -- --instance: a unique prefix selects a node ---------------------------------------------


@pytest.fixture
def live_nodes(own_run_base: Path, trader: str) -> Iterator[list[RunDir]]:
    """Run directories of live nodes (this process) of one trader id."""
    dirs = [create_run_dir(trader, instance, own_run_base, exclusive=False)
            for instance in ("abc123", "abd456", "xyz", "xyz-2")]
    try:
        yield dirs
    finally:
        for run_dir in dirs:
            run_dir.remove()


def _status_instance(capsys: pytest.CaptureFixture[str], instance: str) -> tuple[int, str, str]:
    code, out, err = _cli(capsys, "status", "--json", "--instance", instance)
    return code, (json.loads(out)["instance_id"] if code == 0 else out), err


def test_a_unique_instance_prefix_selects_the_node(
    live_nodes: list[RunDir], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _status_instance(capsys, "abc")[:2] == (0, "abc123")
    assert _status_instance(capsys, "abd4")[:2] == (0, "abd456")
    assert _status_instance(capsys, "abc123")[:2] == (0, "abc123")
    # A whole instance id is that node even when it starts another's.
    assert _status_instance(capsys, "xyz")[:2] == (0, "xyz")
    assert _status_instance(capsys, "xyz-")[:2] == (0, "xyz-2")


@pytest.mark.parametrize("command", ["status", "stop", "audit"])
def test_an_ambiguous_instance_prefix_names_the_candidates(
    command: str, live_nodes: list[RunDir], trader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, command, "--instance", "ab", "--timeout", "1")
    pid = os.getpid()
    assert code == 1 and out == ""
    assert err == (f"error: --instance ab matches several running nodes: trader {trader} "
                   f"instance abc123 (pid {pid}); trader {trader} instance abd456 (pid {pid}); "
                   "give more of the instance id (or --trader)\n")


@pytest.mark.parametrize("command", ["status", "stop", "audit"])
def test_an_instance_prefix_matching_no_node_is_not_found(
    command: str, live_nodes: list[RunDir], own_run_base: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _cli(capsys, command, "--instance", "abx", "--timeout", "1")
    assert code == 3 and out == ""
    assert err == ("error: no running node with instance abx (or an instance id starting "
                   f"with it) found (run directories under {own_run_base})\n")


def test_stop_by_instance_prefix_stops_that_node(
    own_run_base: Path, trader: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A single-process node found by a prefix of its instance id gets the SIGTERM;
    the other node of the trader does not."""
    holder = (
        "import sys, time; from pathlib import Path;"
        "from livenode.supervisor.rundir import create_run_dir;"
        "create_run_dir(sys.argv[1], sys.argv[2], Path(sys.argv[3]), exclusive=False);"
        "print('ready', flush=True); time.sleep(120)"
    )
    nodes = {
        instance: subprocess.Popen(
            [sys.executable, "-c", holder, trader, instance, str(own_run_base)],
            stdout=subprocess.PIPE, text=True,
        )
        for instance in ("f00d1234", "beef5678")
    }
    try:
        for node in nodes.values():
            assert node.stdout is not None and node.stdout.readline().strip() == "ready"
        code, out, err = _cli(capsys, "stop", "--instance", "f00d")
        assert code == 0, err
        assert out == f"stopping {trader}-f00d1234\n"
        assert nodes["f00d1234"].wait(timeout=30) == -signal.SIGTERM
        assert nodes["beef5678"].poll() is None
    finally:
        for node in nodes.values():
            if node.poll() is None:
                node.kill()
                node.wait()
            if node.stdout is not None:
                node.stdout.close()
