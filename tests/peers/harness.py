"""Start and stop the QuickFIX acceptor (`tests/peers/fix_acceptor.py`) as a process.

`AcceptorProcess` runs it on a free loopback port with a directory of its own, waits for
its ready line, keeps its output (for failure messages), and stops it by pid: SIGTERM,
then SIGKILL after a grace period. `kill` is the crash (SIGKILL at once); `start` again
reuses the directory (QuickFIX's store and the order book survive).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ACCEPTOR = Path(__file__).with_name("fix_acceptor.py")
READY = "fix acceptor ready on"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AcceptorProcess:
    """One acceptor process (see the module docstring)."""

    def __init__(self, directory: Path, *, port: int | None = None, price: str = "100.00",
                 liquidity: str = "", extra: list[str] | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.price = price
        self.liquidity = liquidity
        self.extra = extra or []
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._commands = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> AcceptorProcess:
        """Start it and wait for the ready line."""
        argv = [sys.executable, str(ACCEPTOR), "--port", str(self.port),
                "--dir", str(self.directory), "--price", self.price,
                "--sender-comp-id", "VENUE", "--target-comp-id", "NODE", *self.extra]
        if self.liquidity:
            argv += ["--liquidity", self.liquidity]
        self._ready.clear()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("fix acceptor did not get ready:\n" + self.output())
        return self

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith(READY):
                self._ready.set()

    def output(self) -> str:
        """Everything it printed so far."""
        return "\n".join(self.lines)

    def wait_line(self, text: str, timeout: float = 10.0) -> None:
        """Wait until a printed line contains `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            time.sleep(0.05)
        raise TimeoutError(f"no line with {text!r}:\n{self.output()}")

    def command(self, name: str, timeout: float = 10.0, **args: Any) -> None:
        """Make the acceptor misbehave (see the command table in its docstring); returns
        once it has run or armed the command. Raises if it refused it."""
        self._commands += 1
        ident = self._commands
        control = self.directory / "control"
        tmp = control / f".{ident}.tmp"
        tmp.write_text(json.dumps({"id": ident, "name": name, "args": args}))
        tmp.rename(control / f"{ident}.json")  # atomic: never read half written
        done = f"fix acceptor: command {ident} {name} "
        self.wait_line(done, timeout)
        line = next(x for x in self.lines if x.startswith(done))
        if not line.endswith(" done"):
            raise RuntimeError(line)

    def signal(self, sig: int) -> None:
        """Send `sig` to the acceptor. A SIGSTOP returns once every thread of it is
        stopped: the signal takes effect asynchronously, and a message sent right
        after `kill` could still be read by a thread that has not stopped yet."""
        os.kill(self.pid, sig)
        if sig == signal.SIGSTOP:
            deadline = time.monotonic() + 30.0
            while not _all_threads_stopped(self.pid):
                if time.monotonic() > deadline:
                    raise AssertionError(f"acceptor pid {self.pid} not stopped within 30s")
                time.sleep(0.001)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; its exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace)
        self.proc = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL (a crash) and reap it."""
        proc = self.proc
        if proc is not None:
            proc.kill()
            proc.wait(10)
            self.proc = None

    def fills(self) -> list[dict[str, Any]]:
        """Its record of fills (one dict per fill)."""
        path = self.directory / "fills.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]


def _all_threads_stopped(pid: int) -> bool:
    """Whether every thread of `pid` is in the stopped state ('T' in /proc)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended
            continue
        if stat[stat.rindex(")") + 2] != "T":
            return False
    return True
