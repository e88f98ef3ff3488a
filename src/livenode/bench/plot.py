"""Latency-by-percentile plots, drawn the way HdrHistogram plots are.

The x axis is ``1 / (1 - q)`` on a log scale, so 0 %, 90 %, 99 %, 99.9 % and 99.99 %
are evenly spaced and the tail gets as much room as the median; y is the latency
in microseconds, on a log scale as well (a single outlier of tens of milliseconds
would otherwise flatten every line's body onto the axis). One line per series (a
node mode, the raw floor). matplotlib is imported on use (the ``bench`` extra), with
the Agg backend: no display needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from livenode.bench.report import QUANTILES

__all__ = ["dense_points", "plot_percentiles", "summary_points"]

# The x ticks: percentile q at x = 1 / (1 - q).
_TICKS = ((0.0, "0%"), (0.9, "90%"), (0.99, "99%"), (0.999, "99.9%"), (0.9999, "99.99%"))
# Where dense_points samples the distribution (fractions).
_DENSE = (0.0, 0.25, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99,
          0.993, 0.995, 0.997, 0.998, 0.999, 0.9995, 0.9999)


def summary_points(row: dict[str, Any]) -> list[tuple[float, float]]:
    """(q, latency ns) points from a row of percentiles (``p50`` .. ``max`` and
    ``samples``); ``max`` sits at the last sample's rank, 1 - 1/samples, and a
    percentile at or beyond it (p99.9 of 500 samples) is left out."""
    points: list[tuple[float, float]] = []
    samples = int(row.get("samples") or 0)
    if samples < 2:
        return points
    last = 1.0 - 1.0 / samples
    for key, pct in QUANTILES.items():
        q = last if key == "max" else pct / 100.0
        # A percentile finer than the sample count resolves is the max itself.
        if key in row and (key == "max" or q < last):
            points.append((q, float(row[key])))
    return sorted(points)


def dense_points(samples: list[int]) -> list[tuple[float, float]]:
    """(q, latency ns) points along the whole distribution of raw samples (nearest rank),
    up to the highest percentile the sample count resolves, and the max."""
    data = sorted(samples)
    n = len(data)
    if not n:
        return []
    points = [(q, float(data[min(n - 1, max(0, round(q * n) - 1))]))
              for q in _DENSE if q < 1.0 - 1.0 / n]
    if n > 1:
        points.append((1.0 - 1.0 / n, float(data[-1])))
    return points


def plot_percentiles(
    series: dict[str, list[tuple[float, float]]],
    path: Path,
    title: str,
    subtitle: str = "",
) -> Path:
    """Draw `series` (label -> (q, ns) points) to a PNG at `path`; returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    highest = 0.9
    for label, points in series.items():
        if not points:
            continue
        xs = [1.0 / (1.0 - q) for q, _ in points]
        ys = [ns / 1000.0 for _, ns in points]
        if "floor" in label:  # the baseline: dashed black, under the node's lines
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.6, label=label,
                    linestyle="--", color="black")
        else:
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.6, label=label)
        highest = max(highest, max(q for q, _ in points))
    ax.set_xscale("log")
    # Ticks up to the first one at or beyond the highest point, so every point shows.
    ticks = [(q, text) for q, text in _TICKS if q < highest] or [_TICKS[0]]
    ticks += [t for t in _TICKS if t[0] >= highest][:1]
    ax.set_xticks([1.0 / (1.0 - q) for q, _ in ticks])
    ax.set_xticklabels([text for _, text in ticks])
    ax.minorticks_off()
    ax.set_xlim(1.0, 1.0 / (1.0 - ticks[-1][0]) * 1.2)
    # Latency on a log scale too: one outlier of tens of ms would otherwise flatten
    # the body of every line to the axis; plain numbers, not powers of ten.
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (us, log scale)")
    ax.set_title(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", axis="y", alpha=0.12)
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
