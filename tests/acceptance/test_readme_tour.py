"""The README's 5-minute tour works as written: its strategy and config run and trade."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.helpers import ROOT, SANDBOX, LivenodeProcess

pytestmark = pytest.mark.slow


def _block(text: str, lang: str) -> str:
    match = re.search(rf"```{lang}\n(.*?)```", text, re.S)
    assert match, f"README has no ```{lang} block"
    return match.group(1)


def test_readme_strategy_runs_from_its_config(
    livenode: Callable[..., LivenodeProcess], tmp_path: Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    (tmp_path / "my_strategies.py").write_text(_block(readme, "python"))
    sandbox = SANDBOX.read_text()
    config = sandbox[: sandbox.index("[[strategies]]")]
    config = re.sub(r"(?m)^# .*(\n# .*)*\n*\Z", "", config)  # drop the strategies' comment
    (tmp_path / "my.toml").write_text(config + "\n" + _block(readme, "toml"))
    summary_path = tmp_path / "my.summary.json"

    # As typed: from the directory holding my_strategies.py, with no PYTHONPATH for it.
    node = livenode("run", "my.toml", "--duration", "3", "--summary-json", "my.summary.json",
                    cwd=tmp_path)
    assert node.wait(timeout=90) == 0, node.output()
    summary = json.loads(summary_path.read_text())
    assert summary["strategies"] == ["DipBuyer-001"]
    assert summary["counters"]["fills"] >= 1, node.output()
    assert summary["shutdown"]["clean"]
    # One buy per dip while flat and idle, then the managed flatten at stop.
    sides = [fill["side"] for fill in summary["fills"]]
    assert sides.count("BUY") == 1 and sides[-1] == "SELL", sides


STATUS = re.compile(r"status t=(\d+)s ACTIVE orders=(\d+) fills=(\d+) denied=(\d+) "
                    r"pos=(\S+) pnl=(\S+) USDT")


def test_the_tour_shows_what_livenode_run_prints() -> None:
    """The tour's screen is the one `livenode run configs/sandbox.toml` prints: the
    startup summary with the log file, then status lines of the current format."""
    import argparse
    from decimal import Decimal

    from livenode.cli.run import logging_for_run
    from livenode.cli.summary import instrument_line, startup_lines, status_line
    from livenode.config import load_config

    readme = (ROOT / "README.md").read_text()
    match = re.search(r"\*\*1\. Run the sandbox\.\*\*.*?```\n(.*?)```", readme, re.S)
    assert match, "README has no screen block in step 1"
    block = match.group(1).splitlines()
    config = logging_for_run(load_config(SANDBOX),
                             argparse.Namespace(log_file=None, verbose=False))
    expected = [*startup_lines(config, "configs/sandbox.toml"),
                instrument_line(["BTCUSDT.SIM", "ETHUSDT-PERP.SIM"]),
                "running (Ctrl-C to stop)"]
    assert block[:len(expected)] == expected
    shown = block[len(expected):]
    assert shown[-1] == "..." and len(shown) > 1
    for line in shown[:-1]:
        m = STATUS.fullmatch(line)
        assert m, line
        positions = {f"{symbol}.SIM": Decimal(qty) for symbol, qty in
                     (item.split(":") for item in m.group(5).split(","))}
        assert status_line(seconds=int(m.group(1)), state="ACTIVE", orders=int(m.group(2)),
                           fills=int(m.group(3)), denied=int(m.group(4)),
                           open_positions=positions, pnl={"USDT": Decimal(m.group(6))}) == line
