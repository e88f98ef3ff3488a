"""Run `livenode` as a user does: a subprocess, its stdout read line by line as it runs.

`LivenodeProcess` starts the console script with the repository root on
PYTHONPATH (so configs may name test fixtures), reads stdout in a thread into
a queue, and lets a test wait for a line matching a pattern with a timeout:
no fixed sleeps. stderr goes to a file (logs can be long; a full pipe would
block the node), readable after the run.
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
        self, *args: str | os.PathLike[str], stderr_path: Path, cwd: Path = ROOT
    ) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [*livenode_command(), *map(str, args)],
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
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.stderr()[-4000:]

    def kill(self) -> None:
        """Kill the process if it still runs (test teardown); idempotent."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self._stderr.close()
