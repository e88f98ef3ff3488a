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
