"""Tick-to-trade latency, single vs multiprocess, against the raw pyzmq floor.

A thin wrapper of ``livenode bench t2t`` (the code is `livenode.bench.t2t`, shipped
with the package) that keeps this host's latest result in ``benchmarks/results/``:
``t2t-<tag>.json`` and ``t2t-<tag>.png``, the tag being ``--tag`` or the host name.

    .venv/bin/python benchmarks/bench_tick_to_trade.py --count 5000 --rate 200
    .venv/bin/python benchmarks/bench_tick_to_trade.py --tag ci-2core --duration 60

Every other option is passed on to ``livenode bench t2t`` (see its ``--help``).
"""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path

from livenode.cli.main import main as livenode

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    """Run ``livenode bench t2t`` with this host's result files unless given."""
    args = list(argv)
    tag = platform.node() or "host"
    if "--tag" in args:
        at = args.index("--tag")
        if at + 1 >= len(args):
            print("error: --tag: expected a machine tag", file=sys.stderr)
            return 2
        tag = args[at + 1]
        del args[at:at + 2]
    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", tag)
    if "--json" not in args:
        args += ["--json", str(RESULTS / f"t2t-{tag}.json")]
    if "--plot" not in args:
        args += ["--plot", str(RESULTS / f"t2t-{tag}.png")]
    return livenode(["bench", "t2t", *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
