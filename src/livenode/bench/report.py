"""What every benchmark reports: percentiles, ratios, machine facts, a progress bar.

Percentiles are nearest-rank over sorted samples (the exec client's formula), so the
node's figures and the floor's are computed alike. Machine facts go into every JSON
result: these 2-core hosts drift 2x from run to run, and a figure without the CPU,
the affinity and the load it ran under cannot be compared with anything.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import time
from importlib import metadata
from typing import Any, TextIO

__all__ = [
    "QUANTILES",
    "Progress",
    "machine_facts",
    "percentiles_ns",
    "ratio",
    "table",
    "utc_now",
]

#: name -> percentile (0-100) of every latency row.
QUANTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
_PACKAGES = ("livenode", "pyzmq", "msgspec", "uvloop", "psutil", "hdrhistogram", "matplotlib")


def percentiles_ns(samples: list[int], quantiles: dict[str, float] | None = None) -> dict[str, int]:
    """Nearest-rank percentiles of `samples` (default `QUANTILES`); {} when empty."""
    data = sorted(samples)
    if not data:
        return {}
    n = len(data)
    return {
        key: data[min(n - 1, max(0, round(q / 100 * n) - 1))]
        for key, q in (quantiles or QUANTILES).items()
    }


def ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, float] | None:
    """``a[k] / b[k]`` per percentile of `QUANTILES` both have (None when either is missing)."""
    if not a or not b:
        return None
    return {k: round(a[k] / b[k], 2) for k in QUANTILES if b.get(k) and k in a}


def table(rows: list[dict[str, Any]]) -> list[str]:
    """Rows (``mode``, ``samples`` and the percentiles in ns) as a table in microseconds."""
    head = f"{'mode':<26} {'samples':>8}" + "".join(f" {k:>9}" for k in QUANTILES)
    lines = [head + "   (us)", "-" * len(head)]
    for row in rows:
        values = "".join(
            f" {row[k] / 1000:>9.1f}" if k in row else f" {'-':>9}" for k in QUANTILES
        )
        lines.append(f"{row['mode']:<26} {row['samples']:>8}{values}")
    return lines


def utc_now() -> str:
    """Now, ISO 8601 UTC to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    """CPU model, cores, this process's affinity, load average, kernel, Python and the
    versions of the packages on the hot path (JSON-ready). Taken at the start of a run;
    `load_after` is added at its end (`load_average`)."""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": platform.node(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": affinity,
        "load_before": load_average(),
        "kernel": f"{platform.system()} {platform.release()}",
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _version(name) for name in _PACKAGES},
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (rounded)."""
    return [round(x, 2) for x in os.getloadavg()]


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, plain lines otherwise
    (at most one per 10 % or per 5 s, so a log stays short)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._label = ""
        self._last_step = -1
        self._last_line = 0.0

    def start(self, label: str) -> None:
        """Begin a phase."""
        self.finish()
        self._label = label
        self._last_step = -1
        self._last_line = 0.0
        self.update(0.0)

    def update(self, fraction: float, detail: str = "") -> None:
        """Show `fraction` (0..1) of the current phase done."""
        fraction = min(1.0, max(0.0, fraction))
        if self.tty:
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self._label:<32} [{bar}] {fraction:>4.0%} {detail:<24}")
            self.stream.flush()
            return
        step = int(fraction * 10)
        now = time.monotonic()
        if step > self._last_step or now - self._last_line >= 5.0:
            self._last_step, self._last_line = step, now
            self.stream.write(f"{self._label}: {fraction:.0%}{' ' + detail if detail else ''}\n")
            self.stream.flush()

    def finish(self) -> None:
        """End the current phase's line."""
        if self.tty and self._label:
            self.stream.write("\n")
            self.stream.flush()
        self._label = ""
