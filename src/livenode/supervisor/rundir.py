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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from livenode.cache.shm.cleanup import SegmentInfo
from livenode.cache.shm.segment import NAME_PREFIX, staging_creator

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
    """The run base, a run directory in it or a socket there could let another user
    reach the node (or is another user's): nothing in it is read or talked to."""


def check_private_dir(path: Path, what: str = "run base") -> None:
    """The one check of a directory that holds a node's sockets and pid file (the run
    base, and each run directory in it): a real directory (not a symlink), owned by
    this user, that no other user may write to or enter (no group or other bits).
    `livenode run` checks its run base with it before creating anything; `status`,
    `stop`, `audit` and `clean` check the run base and every run directory they use
    before reading or talking to anything in it.

    Raises:
        UnsafeRunBaseError: one line naming the path, its owner uid and mode, what is
            wrong and how to fix it.
        OSError: the path cannot be examined (FileNotFoundError: it does not exist).
    """
    info = path.lstat()
    mode = stat.S_IMODE(info.st_mode)
    uid = os.getuid()
    if not stat.S_ISDIR(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise UnsafeRunBaseError(
            f"{what} {path}: {kind} (owner uid {info.st_uid}, mode {mode:04o}); expected "
            f"a directory of this user (uid {uid}) with mode 0700"
        )
    if info.st_uid != uid:
        raise UnsafeRunBaseError(
            f"{what} {path}: owned by uid {info.st_uid}, not by this user (uid {uid}) "
            f"(mode {mode:04o}); set {RUN_BASE_ENV} to a directory of your own"
        )
    if mode & 0o077:
        raise UnsafeRunBaseError(
            f"{what} {path}: mode {mode:04o} lets other users in (owner uid "
            f"{info.st_uid}); expected 0700 (chmod 700 {path})"
        )


def check_run_base(base: Path, *, missing_ok: bool = False) -> None:
    """Refuse a run base that another user owns or may write to or enter: its ipc
    sockets carry orders and the control channel, so only this user may reach them
    (`check_private_dir`). `missing_ok`: a base that does not exist holds nothing
    (the commands that only look for nodes find none there).

    Raises:
        UnsafeRunBaseError: naming the directory, its owner and mode, what is wrong
            and how to fix it.
    """
    try:
        check_private_dir(base, "run base")
    except FileNotFoundError:
        if not missing_ok:
            raise


def check_socket(path: Path) -> None:
    """Refuse to connect to an ipc socket file (``control.ipc``, ``node.ipc``) that is
    not a socket of this user: whoever owns it would receive the request (and answer
    it). A missing file passes (there is nothing to connect to; the asker times out).

    Raises:
        UnsafeRunBaseError: naming the file, its owner uid and mode.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    uid = os.getuid()
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISSOCK(info.st_mode):
        raise UnsafeRunBaseError(
            f"{path}: not a socket (owner uid {info.st_uid}, mode {mode:04o}); "
            "not talking to it"
        )
    if info.st_uid != uid:
        raise UnsafeRunBaseError(
            f"{path}: owned by uid {info.st_uid}, not by this user (uid {uid}) "
            f"(mode {mode:04o}); not talking to it"
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
    id or all; return their names.

    Raises:
        UnsafeRunBaseError: the base is not this user's alone (`check_run_base`).
    """
    base = base or default_base()
    check_run_base(base, missing_ok=True)
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
    `instance_id` (the directory is ``<trader_id>-<instance_id>``).

    The base (when it exists) and each run directory of the trader are checked
    (`check_private_dir`) before anything in them is read.

    Raises:
        UnsafeRunBaseError: the base or one of those run directories is not this
            user's alone.
    """
    base = base or default_base()
    check_run_base(base, missing_ok=True)
    if not base.is_dir():
        return
    for path in sorted(base.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue
        if trader_id is not None and not path.name.startswith(f"{trader_id}-"):
            continue
        check_private_dir(path, "run directory")
        run_dir = RunDir(path)
        if instance_id is not None and _instance_of(run_dir) != instance_id:
            continue
        yield run_dir


def select_instance(run_dirs: Iterable[RunDir], instance: str) -> list[RunDir]:
    """The run directories whose instance id is `instance`, or else those whose
    instance id starts with it (a short id, like git's and docker's): the caller
    wants exactly one and names the candidates otherwise."""
    named = [(d, _instance_of(d)) for d in run_dirs]
    exact = [d for d, i in named if i == instance]
    if exact:
        return exact
    return [d for d, i in named if i is not None and i.startswith(instance)]


def _instance_of(run_dir: RunDir) -> str | None:
    """The instance id its pid file names (the directory name cannot tell where the
    trader id ends: both may contain dashes)."""
    try:
        instance = run_dir.read_owner().get("instance_id")
    except (OSError, ValueError):
        return None
    return instance if isinstance(instance, str) else None


@dataclass(frozen=True)
class NodeRecord:
    """A node a run base records: by its run directory's pid file or by its trader
    lock file (an exclusive holder writes its pid and instance there)."""

    trader_id: str
    instance_id: str
    pid: int
    process_created: float | None = None  # the pid file has it, a lock file not

    def owns(self, segment: SegmentInfo) -> bool:
        """Whether `segment` was made by this node: its header names this trader,
        instance and owner pid (and process start time, when recorded); a segment
        caught half-created (no header yet) by its staging name, which carries the
        creator's pid. A segment without a header under its real name names no
        owner: never this node's."""
        if segment.owner_pid != self.pid:
            return False
        if segment.valid:
            if (segment.trader_id, segment.instance_id) != (self.trader_id, self.instance_id):
                return False
            created = self.process_created
            return created is None or abs(segment.owner_ctime - created) < 1.0
        return staging_creator(segment.name) == self.pid and segment.name.startswith(
            f"{NAME_PREFIX}{self.trader_id}-{self.instance_id}-"
        )


def node_records(base: Path | None = None, trader_id: str | None = None) -> list[NodeRecord]:
    """Every node (of `trader_id`, or all) that the run base records, live or dead:
    the pid file of each run directory and the content of each trader lock file.
    `livenode clean` removes only the stale shared memory of these nodes: a segment
    that no record of this run base names is another run base's (or nobody's
    provably) and is left alone.

    Raises:
        UnsafeRunBaseError: the base or one of its run directories is not this
            user's alone.
    """
    base = base or default_base()
    records = []
    for run_dir in find_run_dirs(trader_id, base):
        try:
            owner = run_dir.read_owner()
        except (OSError, ValueError):
            continue
        pid, trader, instance = owner.get("pid"), owner.get("trader_id"), owner.get(
            "instance_id")
        created = owner.get("process_created")
        if isinstance(pid, int) and isinstance(trader, str) and isinstance(instance, str):
            records.append(NodeRecord(trader, instance, pid,
                                      created if isinstance(created, float) else None))
    pattern = f"{trader_id}.lock" if trader_id else "*.lock"
    for path in sorted(base.glob(pattern)) if base.is_dir() else []:
        try:
            data = json.loads(path.read_bytes() or b"{}")
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        pid, instance = data.get("pid"), data.get("instance_id")
        if isinstance(pid, int) and isinstance(instance, str):
            records.append(NodeRecord(path.name.removesuffix(".lock"), instance, pid))
    return records
