"""The run base must be this user's alone: its sockets carry orders and control."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from livenode.supervisor.rundir import (
    RUN_BASE_ENV,
    NodeAlreadyRunningError,
    UnsafeRunBaseError,
    create_run_dir,
    find_run_dirs,
    prepare_run_base,
)

ROOT = Path(__file__).resolve().parents[3]


def test_a_new_base_is_created_private(tmp_path: Path) -> None:
    base = prepare_run_base(tmp_path / "base")
    assert base.stat().st_mode & 0o777 == 0o700
    run_dir = create_run_dir("T-001", "abc", base)
    assert run_dir.path.stat().st_mode & 0o777 == 0o700
    run_dir.remove()


@pytest.mark.parametrize("mode", [0o777, 0o750, 0o701])
def test_a_base_others_may_enter_is_refused(tmp_path: Path, mode: int) -> None:
    base = tmp_path / "base"
    base.mkdir()
    base.chmod(mode)
    with pytest.raises(UnsafeRunBaseError, match=f"mode {mode:04o} lets other users in"):
        create_run_dir("T-001", "abc", base)
    assert list(base.iterdir()) == []


def test_a_base_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "base"
    base.mkdir(mode=0o700)
    owner = base.stat().st_uid
    # We are someone else than the directory's owner (no root needed for that).
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    with pytest.raises(UnsafeRunBaseError, match=f"owned by uid {owner}, not by this user"):
        prepare_run_base(base)


def test_livenode_run_refuses_an_open_base_and_creates_nothing(tmp_path: Path) -> None:
    base = tmp_path / "open"
    base.mkdir()
    base.chmod(0o777)
    env = {**os.environ, RUN_BASE_ENV: str(base)}
    result = subprocess.run(
        [sys.executable, "-m", "livenode", "run", str(ROOT / "configs" / "sandbox.toml"),
         "--duration", "1"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stderr
    assert f"error: run base {base}: mode 0777 lets other users in" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(base.iterdir()) == []


def test_a_second_run_dir_of_a_live_owner_is_refused_naming_its_pid(tmp_path: Path) -> None:
    base = prepare_run_base(tmp_path / "base")
    first = create_run_dir("T-001", "abc", base)
    try:
        # Even a node allowed beside another of its trader id (--allow-second-node)
        # never shares an instance's run directory.
        with pytest.raises(NodeAlreadyRunningError) as info:
            create_run_dir("T-001", "abc", base, exclusive=False)
        assert f"pid {os.getpid()}" in str(info.value) and "T-001-abc" in str(info.value)
        assert first.is_alive() and first.read_owner()["pid"] == os.getpid()
        other = create_run_dir("T-001", "abc-2", base, exclusive=False)  # another instance
        assert [d.path.name for d in find_run_dirs("T-001", base, "abc")] == ["T-001-abc"]
        assert [d.path.name for d in find_run_dirs(None, base, "abc-2")] == ["T-001-abc-2"]
        other.remove()
    finally:
        first.remove()


def test_a_run_dir_of_a_dead_owner_is_taken_over(tmp_path: Path) -> None:
    base = prepare_run_base(tmp_path / "base")
    script = (
        "import sys; from pathlib import Path\n"
        "from livenode.supervisor.rundir import create_run_dir\n"
        "create_run_dir('T-001', 'abc', Path(sys.argv[1]))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(base)], check=True)
    run_dir = create_run_dir("T-001", "abc", base)
    assert run_dir.read_owner()["pid"] == os.getpid()
    run_dir.remove()


def test_a_second_node_of_the_same_trader_id_is_refused_unless_asked(tmp_path: Path) -> None:
    """Issue 18: two nodes of one trader id trade the same account. The first holds the
    trader's lock; a second (another instance id) is refused, naming the first, unless
    it opts in; the lock is free again once the first is gone."""
    from livenode.supervisor.rundir import TraderAlreadyRunningError

    base = tmp_path / "base"
    first = create_run_dir("TRADER-LOCK", "one", base)
    with pytest.raises(TraderAlreadyRunningError, match=rf"pid {os.getpid()}, instance one"):
        create_run_dir("TRADER-LOCK", "two", base)
    assert [d.path.name for d in find_run_dirs("TRADER-LOCK", base)] == ["TRADER-LOCK-one"]
    second = create_run_dir("TRADER-LOCK", "two", base, exclusive=False)
    other = create_run_dir("OTHER-TRADER", "x", base)  # another trader id: its own lock
    other.remove()
    second.remove()
    assert (base / "TRADER-LOCK.lock").exists()  # the first still holds it
    first.remove()
    assert not (base / "TRADER-LOCK.lock").exists()  # the last holder removed it
    create_run_dir("TRADER-LOCK", "three", base).remove()


def test_the_trader_lock_is_released_when_its_process_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from livenode.supervisor.rundir import TraderAlreadyRunningError

    base = tmp_path / "base"
    base.mkdir(mode=0o700)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path;"
         "from livenode.supervisor.rundir import create_run_dir;"
         f"create_run_dir('TRADER-KILL', 'one', Path({str(base)!r}));"
         "print('locked', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(TraderAlreadyRunningError, match=f"pid {holder.pid}"):
            create_run_dir("TRADER-KILL", "two", base)
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=30) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    # No stop, no cleanup ran: the OS released the lock with the process; its file
    # is left, free (`livenode clean` removes it), and the next node takes it.
    from livenode.supervisor.rundir import remove_free_locks

    create_run_dir("TRADER-KILL", "two", base).remove()
    (base / "TRADER-KILL.lock").touch()
    assert remove_free_locks(base) == ["TRADER-KILL.lock"]
    assert list(base.glob("*.lock")) == []
