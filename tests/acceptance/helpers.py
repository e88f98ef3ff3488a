"""Run `livenode` as a user does: a subprocess, its stdout read line by line as it runs.

`LivenodeProcess` starts the console script with the repository root on
PYTHONPATH (so configs may name test fixtures), reads stdout in a thread into
a queue, and lets a test wait for a line matching a pattern with a timeout:
no fixed sleeps. stderr goes to a file (a full pipe would block the node),
readable after the run.

The screen shows WARNING and up; the node's log (every record: fills, order
events, INFO lines) is in its log file. A ``livenode run`` started here writes
it next to the stderr file (``--log-file``, so tests running in parallel never
share one), one file per process in multiprocess mode: `log()` reads them all,
with what only the screen has (``error:`` lines). Pass ``log_file=None`` to
run with the default log file (``{data_dir}/logs/{trader_id}.log``).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "configs" / "sandbox.toml"
NODE_FIXTURES = ROOT / "tests" / "fixtures" / "node" / "configs"


def livenode_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m livenode`."""
    script = Path(sys.executable).with_name("livenode")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "livenode"]


class LivenodeProcess:
    """One `livenode ...` subprocess under test."""

    def __init__(
        self, *args: str | os.PathLike[str], stderr_path: Path, cwd: Path = ROOT,
        log_file: Path | Literal["auto"] | None = "auto",
    ) -> None:
        argv = [str(arg) for arg in args]
        running = bool(argv) and argv[0] == "run"
        if log_file == "auto":
            log_file = stderr_path.with_name(f"{stderr_path.stem}.node.log") if running else None
        if log_file is not None and running and "--log-file" not in argv:
            argv[1:1] = ["--log-file", str(log_file)]
        #: The run's log file (the supervisor's in multiprocess mode); None: the default.
        self.log_file = log_file
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [*livenode_command(), *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # end of output

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Return the match of the first new stdout line matching `pattern`.

        Raises AssertionError (with the output so far) on timeout or end of output.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no stdout line matched {pattern!r} within {timeout}s:\n{self.output()}"
                )
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)  # keep the end marker for later waits
                raise AssertionError(
                    f"output ended before a line matched {pattern!r}:\n{self.output()}"
                )
            self.lines.append(line)
            match = regex.search(line)
            if match:
                return match

    def skip_received(self) -> None:
        """Take every stdout line received so far as read (into `lines`), without
        waiting: the next `wait_for_line` sees only lines that arrive after this call.
        A wait for something to happen *after* an event must not be answered by a line
        printed before it (a status line still queued from before a worker's kill)."""
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self._queue.put(None)  # keep the end marker for later waits
                return
            self.lines.append(line)

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for the exit (killing it on timeout) and drain stdout; return the exit code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"livenode did not exit within {timeout}s:\n{self.output()}"
            ) from None
        finally:
            self._reader.join(timeout=10)
            self._stderr.close()
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return code

    def stderr(self) -> str:
        """What the node wrote on the screen's stderr (WARNING and up, ``error:`` lines)."""
        return self.stderr_path.read_text(errors="replace")

    def log_files(self) -> list[Path]:
        """The run's log files that exist: the node's (a supervisor's) and, beside it,
        each worker's and service's (``<name>-<process>.<suffix>``)."""
        if self.log_file is None:
            return []
        base = Path(self.log_file)
        head, dot, suffix = base.name.rpartition(".")
        pattern = f"{head}-*.{suffix}" if dot else f"{base.name}-*"
        return [p for p in (base, *sorted(base.parent.glob(pattern))) if p.exists()]

    def log(self) -> str:
        """Everything the node logged: its log files, then the stderr lines they do not
        have (``error:`` lines, a forced exit's words); stderr alone without a file."""
        files = "".join(p.read_text(errors="replace") for p in self.log_files())
        logged = set(files.splitlines())
        screen_only = [line for line in self.stderr().splitlines() if line not in logged]
        return files + "\n".join(screen_only) + ("\n" if screen_only else "")

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- log ---\n" + self.log()[-4000:]

    def kill(self) -> None:
        """Kill the process if it still runs (test teardown); idempotent."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self._stderr.close()
