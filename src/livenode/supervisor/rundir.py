"""The run directory of one node instance: its ipc sockets and its pid file.

``<base>/<trader_id>-<instance_id>/`` with mode 0700 (the bus carries orders:
only the node's user may connect), holding ``control.ipc``, one
``<worker>.pub.ipc`` per worker and ``node.pid``. ``livenode status`` and
``livenode stop`` find a running node through it. It is removed when the
supervisor exits; one left by a killed supervisor is recognised by its pid file
naming a dead process. The base directory is ``$LIVENODE_RUN_BASE`` when set
(``livenode run``, ``status``, ``stop`` and ``clean`` all honour it), else
``<tmp>/livenode-<uid>``.

One trader id runs once per run base by default: ``<base>/<trader_id>.lock`` is
locked (``flock``) by the node's process for its life, and the OS releases the lock
when that process dies, however it dies. Two nodes of one trader id trade the same
account; a second one is refused (`TraderAlreadyRunningError`) unless it is started
with ``livenode run --allow-second-node``, which takes a shared lock (and warns
when another node of the trader runs).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PID_FILE = "node.pid"

_log = logging.getLogger("livenode.supervisor.rundir")


#: Environment variable that chooses the run base instead of the per-user default
#: (tests give each node its own base; an operator may keep run dirs elsewhere).
RUN_BASE_ENV = "LIVENODE_RUN_BASE"


def default_base() -> Path:
    """``$LIVENODE_RUN_BASE`` if set, else ``<tmp>/livenode-<uid>``; keep it short,
    because ipc paths are limited to ~107 bytes."""
    chosen = os.environ.get(RUN_BASE_ENV)
    if chosen:
        return Path(chosen)
    return Path(tempfile.gettempdir()) / f"livenode-{os.getuid()}"


class TraderLock:
    """A held lock on a trader id (`lock_trader`): released by `release` or when the
    process ends. The last holder to release it removes its file."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self._path = path

    def release(self) -> None:
        """Release the lock (idempotent); remove the file if no one else holds it."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            # Exclusive now means no other holder: the file may go. Whoever opened it
            # meanwhile finds, once locked, that the path is no longer its file
            # (`lock_trader` checks) and starts again on a new one.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, self._path):
                self._path.unlink()
        with contextlib.suppress(OSError):
            os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except OSError:
        return False


@dataclass(frozen=True)
class RunDir:
    path: Path
    # The open file holding this node's lock on its trader id (None: not locked
    # here). Kept open for the process's life: closing it releases the lock.
    trader_lock: TraderLock | None = field(default=None, compare=False)

    @property
    def control_endpoint(self) -> str:
        return f"ipc://{self.path / 'control.ipc'}"

    @property
    def node_endpoint(self) -> str:
        """A single-process node's own control socket (`livenode audit`)."""
        return f"ipc://{self.path / 'node.ipc'}"

    def publish_endpoint(self, worker: str) -> str:
        return f"ipc://{self.path / (worker + '.pub.ipc')}"

    @property
    def is_supervised(self) -> bool:
        """A multiprocess node's directory (it has the supervisor's control socket);
        a single-process node's holds only its pid file."""
        return (self.path / "control.ipc").exists()

    @property
    def pid_file(self) -> Path:
        return self.path / PID_FILE

    def read_owner(self) -> dict[str, object]:
        """The pid file's content: pid, trader_id, instance_id, started (ns)."""
        data: dict[str, object] = json.loads(self.pid_file.read_text())
        return data

    def is_alive(self) -> bool:
        """True while the supervisor that owns this directory still runs."""
        try:
            owner = self.read_owner()
        except (OSError, ValueError):
            return False
        pid = owner.get("pid")
        if not isinstance(pid, int) or not psutil.pid_exists(pid):
            return False
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            return False
        started = owner.get("process_created")
        # A recycled pid belongs to a process created after ours wrote the file.
        return not isinstance(started, float) or abs(created - started) < 1.0

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self.trader_lock is not None:
            self.trader_lock.release()


class NodeAlreadyRunningError(RuntimeError):
    """A node with the same trader id and instance id already runs (its run directory
    names a live owner): a second one would share its sockets and shared memory."""

    def __init__(self, run_dir: RunDir, pid: object) -> None:
        self.run_dir = run_dir
        self.pid = pid
        super().__init__(
            f"a node with trader id and instance {run_dir.path.name} is already running "
            f"(pid {pid}, run directory {run_dir.path}); stop it first (livenode stop "
            f"--instance ...) or give this one another instance_id"
        )


class TraderAlreadyRunningError(RuntimeError):
    """Another node of the same trader id runs from this run base (it holds the
    trader's lock): a second one would trade the same account."""

    def __init__(self, trader_id: str, holder: str) -> None:
        self.trader_id = trader_id
        super().__init__(
            f"a node of trader id {trader_id} is already running ({holder}): a second "
            f"node of one trader trades the same account. Stop it first (livenode stop "
            f"--trader {trader_id}), or start this one with --allow-second-node"
        )


class UnsafeRunBaseError(RuntimeError):
    """The run base directory could let another user reach the node's sockets."""


def check_run_base(base: Path) -> None:
    """Refuse a run base that another user owns or may write to or enter: its ipc
    sockets carry orders and the control channel, so only this user may reach them.

    Raises:
        UnsafeRunBaseError: naming the directory, what is wrong and how to fix it.
    """
    info = base.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeRunBaseError(f"run base {base}: not a directory")
    uid = os.getuid()
    if info.st_uid != uid:
        raise UnsafeRunBaseError(
            f"run base {base}: owned by uid {info.st_uid}, not by this user (uid {uid}); "
            f"set {RUN_BASE_ENV} to a directory of your own"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UnsafeRunBaseError(
            f"run base {base}: mode {mode:04o} lets other users in; expected 0700 "
            f"(chmod 700 {base})"
        )


def prepare_run_base(base: Path | None = None) -> Path:
    """Create the run base (0700) if needed and check it (`check_run_base`)."""
    base = base or default_base()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_run_base(base)
    return base


def lock_trader(
    trader_id: str, instance_id: str, base: Path, *, exclusive: bool
) -> TraderLock:
    """Lock ``<base>/<trader_id>.lock`` for this process's life.

    `exclusive` (the default of `livenode run`) refuses when any other node of the
    trader holds it; otherwise a shared lock, taken even beside an exclusive holder
    (the operator opted in), with a warning in the log.

    Raises:
        TraderAlreadyRunningError: exclusive, and another node holds the lock.
    """
    path = base / f"{trader_id}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            if exclusive:
                os.close(fd)
                raise TraderAlreadyRunningError(trader_id, holder) from None
            _log.warning("another node of trader id %s runs (%s); this one too, as asked "
                         "(--allow-second-node): both trade the same account",
                         trader_id, holder)
            return TraderLock(fd, path)
        if _same_file(fd, path):
            break
        os.close(fd)  # its last holder removed it between our open and our lock
    if exclusive:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "instance_id": instance_id}).encode())
    return TraderLock(fd, path)


def remove_free_locks(base: Path | None = None, trader_id: str | None = None) -> list[str]:
    """Remove the trader lock files nobody holds (left by killed nodes), of one trader
    id or all; return their names."""
    base = base or default_base()
    removed = []
    pattern = f"{trader_id}.lock" if trader_id else "*.lock"
    for path in sorted(base.glob(pattern)) if base.is_dir() else []:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(fd, path):
                path.unlink()
                removed.append(path.name)
        except OSError:
            pass  # held: a node of that trader runs
        finally:
            os.close(fd)
    return removed


def _lock_holder(fd: int) -> str:
    """Who holds the lock, as its file says (written by an exclusive holder)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        data = {}
    if isinstance(data, dict) and data.get("pid"):
        return f"pid {data['pid']}, instance {data.get('instance_id')}"
    return "another process holds its lock"


def create_run_dir(
    trader_id: str, instance_id: str, base: Path | None = None, *, exclusive: bool = True
) -> RunDir:
    """Lock the trader id (`lock_trader`), create the directory (0700) and write the
    pid file of this process.

    Raises:
        UnsafeRunBaseError: the base is not owned by this user with mode 0700.
        TraderAlreadyRunningError: `exclusive` and another node of the trader runs.
        NodeAlreadyRunningError: a live node of this trader id and instance owns it.
    """
    base = prepare_run_base(base)
    lock = lock_trader(trader_id, instance_id, base, exclusive=exclusive)
    try:
        return _create_run_dir(trader_id, instance_id, base, lock)
    except BaseException:
        lock.release()
        raise


def _create_run_dir(
    trader_id: str, instance_id: str, base: Path, lock: TraderLock
) -> RunDir:
    for stale in find_run_dirs(trader_id, base):
        if not stale.is_alive():  # left by a killed run of this trader: ours to remove
            stale.remove()
    path = base / f"{trader_id}-{instance_id}"
    _refuse_if_running(RunDir(path))
    # Built under a hidden name and renamed into place with its pid file: a run
    # directory is never seen without its owner (another node's cleanup would
    # take it for a dead one).
    staging = base / f".{path.name}.{os.getpid()}"
    staging.mkdir(mode=0o700)
    os.chmod(staging, 0o700)  # mkdir's mode is filtered by the umask
    me = psutil.Process()
    owner = {
        "pid": me.pid,
        "process_created": me.create_time(),
        "trader_id": trader_id,
        "instance_id": instance_id,
    }
    (staging / PID_FILE).write_text(json.dumps(owner))
    try:
        staging.rename(path)  # fails if another node put its directory there meanwhile
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        _refuse_if_running(RunDir(path))
        raise
    return RunDir(path, trader_lock=lock)


def _refuse_if_running(run_dir: RunDir) -> None:
    if not run_dir.path.exists():
        return
    if run_dir.is_alive():
        raise NodeAlreadyRunningError(run_dir, run_dir.read_owner().get("pid"))
    run_dir.remove()  # a dead owner's (or a half-built) directory


def find_run_dirs(
    trader_id: str | None = None, base: Path | None = None, instance_id: str | None = None
) -> Iterator[RunDir]:
    """Every run directory under `base`, optionally only those of `trader_id` and/or
    `instance_id` (the directory is ``<trader_id>-<instance_id>``)."""
    base = base or default_base()
    if not base.is_dir():
        return
    for path in sorted(base.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        if trader_id is not None and not path.name.startswith(f"{trader_id}-"):
            continue
        run_dir = RunDir(path)
        if instance_id is not None and _instance_of(run_dir) != instance_id:
            continue
        yield run_dir


def _instance_of(run_dir: RunDir) -> str | None:
    """The instance id its pid file names (the directory name cannot tell where the
    trader id ends: both may contain dashes)."""
    try:
        instance = run_dir.read_owner().get("instance_id")
    except (OSError, ValueError):
        return None
    return instance if isinstance(instance, str) else None
