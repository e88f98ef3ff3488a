"""Starts and stops of a multiprocess node in a row, on a host as loaded as you make it
(issue 18: "with load average >= 8 from scripts/load, twenty multiprocess starts in
a row reach RUNNING and stop clean, a stop at a random moment of a start is ordered").

    .venv/bin/python benchmarks/start_stop.py [--starts 20] [--random-stops 10]
        [--load N] [--config configs/sandbox-multiprocess.toml] [--json PATH]

Each start is `livenode run CONFIG --summary-json ...` as a subprocess, under a run
base of its own:

- a *start*: wait for "node ... RUNNING", then SIGINT; it must exit 0 with a clean
  summary;
- a *random stop*: SIGINT at a random moment between launching the process and one
  second after the first start's time to RUNNING; it must exit 0 with a clean
  summary, unless the signal landed in the interpreter's own start-up (nothing
  printed, no summary, exit 1 with KeyboardInterrupt: documented in the README),
  which is counted apart.

After every run nothing may be left: no process of the run base, no run directory.
`--load N` keeps N busy processes (scripts/load) running for the whole check, and
waits (up to 4 minutes) for the 1-minute load average to reach N before the first
run; the load average is printed after each run and recorded before and after.
Exit 0 when every run passed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
LIVENODE = [sys.executable, "-m", "livenode"]
RUNNING = re.compile(r"^node \S+ RUNNING \(\d+ workers\)$")


@dataclass
class Run:
    kind: str  # "start" or "random-stop"
    signal_after_s: float | None  # random stop: when SIGINT was sent
    running_after_s: float | None  # when RUNNING was printed (None: not reached)
    exit_code: int
    seconds_to_exit: float  # from the signal to the exit
    clean: bool | None  # the summary's shutdown.clean (None: no summary)
    outcome: str  # "ok", "interpreter start-up" or what went wrong
    leftovers: list[str]


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _leftovers(run_base: Path) -> list[str]:
    found = [f"run directory {p.name}" for p in run_base.iterdir() if not p.name.endswith(".lock")]
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if str(run_base) in cmdline and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"process {process.pid}")
        except psutil.Error:
            continue
    return found


def _one(config: Path, workdir: Path, n: int, sigint_after: float | None) -> Run:
    run_base = Path(tempfile.mkdtemp(prefix=f"ln-ss{n}-", dir="/tmp"))
    summary_path = workdir / f"summary-{n}.json"
    env = {**os.environ, "LIVENODE_RUN_BASE": str(run_base), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT / "src")}
    stderr = open(workdir / f"stderr-{n}.log", "wb")  # noqa: SIM115 - closed below
    started = time.monotonic()
    proc = subprocess.Popen([*LIVENODE, "run", str(config), "--summary-json", str(summary_path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr,
                            stdin=subprocess.DEVNULL, text=True)
    running_at: list[float] = []
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if RUNNING.match(line.rstrip("\n")) and not running_at:
                running_at.append(time.monotonic() - started)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    outcome = "ok"
    try:
        if sigint_after is None:
            deadline = started + 300
            while not running_at and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if not running_at:
                outcome = "never RUNNING"
        else:
            time.sleep(max(0.0, started + sigint_after - time.monotonic()))
        signalled = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            outcome = "did not exit within 180 s of SIGINT"
        exit_after = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
        reader.join(timeout=10)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    clean = summary["shutdown"]["clean"] if summary else None
    err = (workdir / f"stderr-{n}.log").read_text(errors="replace")
    if outcome == "ok":
        if (code == 1 and summary is None and not lines
                and err.rstrip().endswith("KeyboardInterrupt")):
            outcome = "interpreter start-up"
        elif code != 0 or clean is not True:
            outcome = f"exit {code}, clean {clean}"
        elif "Traceback" in err:
            outcome = "traceback on stderr"
    deadline = time.monotonic() + 30
    left = _leftovers(run_base)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _leftovers(run_base)
    if left and outcome == "ok":
        outcome = "left something behind"
    shutil.rmtree(run_base, ignore_errors=True)
    return Run("start" if sigint_after is None else "random-stop", sigint_after,
               running_at[0] if running_at else None, code, round(exit_after, 3), clean,
               outcome, left)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--random-stops", type=int, default=10)
    parser.add_argument("--load", type=int, default=0, help="busy processes to run meanwhile")
    parser.add_argument("--config", type=Path,
                        default=ROOT / "configs" / "sandbox-multiprocess.toml")
    parser.add_argument("--json", type=Path, default=None, help="write the runs here")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    load = None
    if args.load:
        load = subprocess.Popen(["bash", str(ROOT / "scripts" / "load"), str(args.load)],
                                stderr=subprocess.DEVNULL)
        # Let the 1-minute load average reach N (it rises slowly), at most 4 minutes.
        deadline = time.monotonic() + 240
        while os.getloadavg()[0] < args.load and time.monotonic() < deadline:
            time.sleep(5)
    load_before = _load_average()
    runs: list[Run] = []
    workdir = Path(tempfile.mkdtemp(prefix="start-stop-"))
    try:
        for n in range(args.starts):
            run = _one(args.config, workdir, n, None)
            runs.append(run)
            print(f"start {n + 1:>2}: RUNNING after {run.running_after_s or 0:.1f}s, "
                  f"exit {run.exit_code} {run.seconds_to_exit:.1f}s after SIGINT: {run.outcome}"
                  f"  (load {_load_average()[0]})", flush=True)
        reached = [r.running_after_s for r in runs if r.running_after_s is not None]
        horizon = (max(reached) if reached else 10.0) + 1.0
        for k in range(args.random_stops):
            at = round(rng.uniform(0.0, horizon), 3)
            run = _one(args.config, workdir, args.starts + k, at)
            runs.append(run)
            print(f"random stop {k + 1:>2}: SIGINT at {at:.2f}s, exit {run.exit_code} "
                  f"{run.seconds_to_exit:.1f}s later: {run.outcome}  (load {_load_average()[0]})",
                  flush=True)
    finally:
        load_after = _load_average()
        if load is not None:
            load.terminate()
            load.wait()
    failed = [r for r in runs if r.outcome not in ("ok", "interpreter start-up")]
    result = {"config": str(args.config), "load_processes": args.load,
              "load_before": load_before, "load_after": load_after,
              "cpus": os.cpu_count(), "runs": [asdict(r) for r in runs],
              "failed": len(failed), "logs": str(workdir)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(runs) - len(failed)}/{len(runs)} runs passed; load average "
          f"{load_before} before, {load_after} after; logs in {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
