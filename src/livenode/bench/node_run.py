"""`livenode run` as a subprocess, watched line by line.

The benchmark runs the node exactly as a user does (``python -m livenode run CONFIG
--summary-json PATH``) and learns what happens from its output: the line that says
every worker is READY, and the ``BENCH {json}`` reports of the scenario's strategy
(`livenode.bench.components`). Readers are threads, so waiting is on events, never
on a fixed sleep. The node is stopped by its pid (SIGINT: the ordered stop; SIGKILL
to the process group only if it does not exit in time).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from livenode.bench.components import parse_report

__all__ = ["NodeProcess", "NodeRunError"]

# Single mode prints "running (Ctrl-C to stop)", the supervisor "node X RUNNING (N workers)"
# once every worker is READY and subscribed.
_READY = re.compile(r"^(running \(Ctrl-C to stop\)|node \S+ RUNNING\b)")
_TAIL = 60  # output lines kept for an error message
# The supervisor's line for a process it runs beside the workers (the sim venue):
# "  service     sim-SIM ready (pid 1234)".
_SERVICE = re.compile(r"^\s*service\s+(\S+) ready \(pid (\d+)\)")


class NodeRunError(RuntimeError):
    """The node did not start, did not report, or exited with an error."""


class NodeProcess:
    """One `livenode run` subprocess; a context manager that always reaps it."""

    def __init__(
        self,
        config: Path,
        summary: Path,
        duration: float | None = None,
        on_report: Callable[[dict[str, Any]], None] | None = None,
        echo: bool = False,
    ) -> None:
        self.config = config
        self.summary_path = summary
        self.duration = duration
        self.on_report = on_report
        self.echo = echo
        self.ready = threading.Event()
        self.done = threading.Event()  # a report with event "done"
        self.reports: list[dict[str, Any]] = []
        #: name -> pid of the services the supervisor started (the sim venue process).
        self.services: dict[str, int] = {}
        self.t_start = 0.0
        self.t_ready: float | None = None
        self.t_stop: float | None = None
        self.t_exit: float | None = None
        self._tail: list[str] = []
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []

    @property
    def pid(self) -> int:
        """The node's (the supervisor's) pid."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    def start(self) -> NodeProcess:
        """Launch the node; returns at once."""
        cmd = [sys.executable, "-m", "livenode", "run", str(self.config),
               "--summary-json", str(self.summary_path)]
        if self.duration is not None:
            cmd += ["--duration", f"{self.duration:g}"]
        self.t_start = time.monotonic()
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for stream in (self._proc.stdout, self._proc.stderr):
            assert stream is not None
            thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            now = time.monotonic()
            with self._lock:
                self._tail.append(line)
                del self._tail[:-_TAIL]
            if self.echo:
                sys.stderr.write(line + "\n")
            service = _SERVICE.match(line)
            if service is not None:
                self.services[service.group(1)] = int(service.group(2))
            if self.t_ready is None and _READY.match(line):
                self.t_ready = now
                self.ready.set()
            report = parse_report(line)
            if report is not None:
                self.reports.append(report)
                if self.on_report is not None:
                    self.on_report(report)
                if report.get("event") == "done":
                    self.done.set()

    def tail(self) -> str:
        """The node's last output lines (for an error message)."""
        with self._lock:
            return "\n".join(self._tail)

    def exited(self) -> bool:
        """Whether the node process has exited."""
        return self._proc is not None and self._proc.poll() is not None

    def wait_for(self, event: threading.Event, timeout: float, what: str) -> None:
        """Wait until `event` is set; NodeRunError if the node exits first or in `timeout` s."""
        deadline = time.monotonic() + timeout
        while not event.wait(0.2):  # wakes to notice a node that died meanwhile
            if self.exited():
                for thread in self._threads:
                    thread.join(5)
                if event.is_set():
                    return
                code = self._proc.returncode if self._proc else None
                raise NodeRunError(f"the node exited ({code}) before {what}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise NodeRunError(f"no {what} within {timeout:g} s:\n{self.tail()}")

    def stop(self, timeout: float = 60.0) -> None:
        """Ordered stop (SIGINT), waited for; SIGKILL to its process group after `timeout`."""
        if self._proc is None or self.exited():
            return
        self.t_stop = time.monotonic()
        self._proc.send_signal(signal.SIGINT)
        self.wait(timeout)

    def wait(self, timeout: float) -> int:
        """Wait for the node to exit (killing it after `timeout` s); its exit code."""
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise NodeRunError(f"the node did not exit within {timeout:g} s:\n"
                               f"{self.tail()}") from None
        self.t_exit = time.monotonic()
        for thread in self._threads:
            thread.join(5)
        return code

    def kill(self) -> None:
        """Kill the node (its supervisor; workers follow by their parent-death signal)."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(30)
        for stream in (self._proc.stdout, self._proc.stderr) if self._proc else ():
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    @property
    def returncode(self) -> int | None:
        """The node's exit code (None while it runs)."""
        return self._proc.returncode if self._proc is not None else None

    def summary(self, clean: bool = True) -> dict[str, Any]:
        """The node's `--summary-json` (after it exited; with `clean`, NodeRunError
        unless it exited with 0)."""
        code = self.returncode
        if clean and code != 0:
            raise NodeRunError(f"the node exited with {code}:\n{self.tail()}")
        try:
            data = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NodeRunError(f"{self.summary_path}: no summary ({exc})") from None
        if not isinstance(data, dict):
            raise NodeRunError(f"{self.summary_path}: expected a JSON object")
        return data

    def __enter__(self) -> NodeProcess:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.stop()
        except NodeRunError:
            if exc_type is None:
                raise
            # Already failing: the first error is the one to report; the node is killed.
        finally:
            self.kill()
