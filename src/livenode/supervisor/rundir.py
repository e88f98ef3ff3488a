"""The run directory of one node instance: its ipc sockets and its pid file.

``<base>/<trader_id>-<instance_id>/`` with mode 0700 (the bus carries orders:
only the node's user may connect), holding ``control.ipc``, one
``<worker>.pub.ipc`` per worker and ``node.pid``. ``livenode status`` and
``livenode stop`` find a running node through it. It is removed when the
supervisor exits; one left by a killed supervisor is recognised by its pid file
naming a dead process. The base directory is ``$LIVENODE_RUN_BASE`` when set
(``livenode run``, ``status``, ``stop`` and ``clean`` all honour it), else
``<tmp>/livenode-<uid>``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

PID_FILE = "node.pid"


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


@dataclass(frozen=True)
class RunDir:
    path: Path

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


def create_run_dir(trader_id: str, instance_id: str, base: Path | None = None) -> RunDir:
    """Create the directory (0700) and write the pid file of this process.

    Raises:
        UnsafeRunBaseError: the base is not owned by this user with mode 0700.
        NodeAlreadyRunningError: a live node of this trader id and instance owns it.
    """
    base = prepare_run_base(base)
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
    return RunDir(path)


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
