"""The CLI as a user first meets it: `--version`, strategy modules found in the working
directory, import errors that say where they looked, and `status` output."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from livenode.cli.control import run_control_command
from livenode.cli.main import build_parser
from livenode.cli.market_view import format_market_view

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).with_name("livenode")

STRATEGY_MODULE = '''
from livenode.trading.config import StrategyConfig
from livenode.trading.strategy import Strategy


class HereConfig(StrategyConfig, frozen=True, kw_only=True):
    instrument_id: str


class Here(Strategy):
    pass
'''


def console_script(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `livenode` script, as a user types it (not `python -m`, which
    would put the working directory on sys.path by itself); no PYTHONPATH."""
    assert SCRIPT.exists(), f"the console script {SCRIPT} is not installed"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60,
        cwd=cwd, env=env,
    )


def strategy_config(tmp_path: Path, module: str) -> Path:
    path = tmp_path / "my.toml"
    path.write_text(
        f'trader_id = "CWD-001"\n[[strategies]]\npath = "{module}:Here"\n'
        f'config_path = "{module}:HereConfig"\n[strategies.config]\n'
        'instrument_id = "BTCUSDT.SIM"\n'
    )
    return path


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = console_script("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"livenode {version}\n"


def test_config_validate_finds_a_strategy_module_in_the_working_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "my_cwd_strategies.py").write_text(STRATEGY_MODULE)
    config = strategy_config(tmp_path, "my_cwd_strategies")
    result = console_script("config", "validate", config.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: my.toml ")


def test_a_strategy_module_that_is_not_there_names_the_field_and_where_it_looked(
    tmp_path: Path,
) -> None:
    config = strategy_config(tmp_path, "my_absent_strategies")
    result = console_script("config", "validate", config.name, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        'error: my.toml: strategies[0].path: cannot import "my_absent_strategies:Here": '
        'module "my_absent_strategies" not found (looked for my_absent_strategies.py in the '
        f"working directory {tmp_path} and sys.path; is the file there?)\n"
    )


def test_status_watch_into_a_pipe_writes_no_terminal_control_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No node runs under this run base: the first snapshot ends the watch (exit 3).
    args = build_parser().parse_args(
        ["status", "--watch", "0.1", "--run-base", str(tmp_path)]
    )
    assert run_control_command(args) == 3
    out, err = capsys.readouterr()
    assert "\x1b" not in out
    assert "no running node" in err


def test_status_balances_have_a_header_line() -> None:
    view = {
        "quotes": [],
        "positions": [],
        "balances": [
            {"account_id": "SIM-001", "currency": "USDT", "total": "10000.00",
             "free": "9900.00", "locked": "100.00"},
        ],
    }
    lines = format_market_view(view)
    header = lines.index(next(line for line in lines if line.startswith("account")))
    assert lines[header].split() == ["account", "currency", "total", "free", "locked"]
    assert lines[header + 1].split() == ["SIM-001", "USDT", "10000.00", "9900.00", "100.00"]
    # Columns line up under their headers.
    for column in ("currency", "total", "free", "locked"):
        end = lines[header].index(column) + len(column)
        value = lines[header + 1].split()[lines[header].split().index(column)]
        if column == "currency":
            assert lines[header + 1].index(value) == lines[header].index(column)
        else:
            assert lines[header + 1][:end].endswith(value)
    assert format_market_view({**view, "balances": []}) == [lines[0]]


def test_a_screen_line_is_written_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 18: `print` writes a line and its newline apart (two system calls on an
    unbuffered stream, PYTHONUNBUFFERED), and a worker's log line landed in between,
    sharing the status line. Each line of the screen is one write."""
    from livenode.cli import run

    writes: list[tuple[str, str]] = []

    class Stream:
        def __init__(self, name: str) -> None:
            self.name = name

        def write(self, text: str) -> int:
            writes.append((self.name, text))
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(sys, "stdout", Stream("out"))
    monkeypatch.setattr(sys, "stderr", Stream("err"))
    run._say("status t=2s ACTIVE orders=1 fills=0")
    run._error("boom")
    assert writes == [("out", "status t=2s ACTIVE orders=1 fills=0\n"), ("err", "error: boom\n")]
