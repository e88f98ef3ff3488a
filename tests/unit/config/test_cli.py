"""`livenode config validate|show`: output and exit codes (called directly)."""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import pytest

from livenode.cli.config_cmd import add_config_parser, run_config_command
from livenode.config import load_config

from .conftest import CONFIGS


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="livenode")
    add_config_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func is run_config_command
    return args.func(args)


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIGS / "good" / "full.toml"
    assert run(["config", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"ok: {path} (trader TRADER-007, mode single, environment sandbox, 1 data client, "
        "2 exec clients, 2 strategies)\n"
    )
    assert err == ""


def test_validate_error_exits_2_with_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIGS / "bad" / "bad_rate.toml"
    assert run(["config", "validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f'error: {path}: risk_engine.max_order_submit_rate: expected "<count>/<seconds>s" '
        '(e.g. "100/1s"), got "fast"\n'
    )


def test_validate_missing_file_exits_2(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert run(["config", "validate", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: file not found: {path}\n"


def test_show_toml_prints_the_effective_config(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIGS / "good" / "minimal.toml"
    assert run(["config", "show", str(path)]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["trader_id"] == "TRADER-001" and data["timeouts"]["post_stop"] == 5.0


def test_show_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = CONFIGS / "good" / "full.json"
    assert run(["config", "show", str(path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["environment"] == "live"
    copy = tmp_path / "copy.json"
    copy.write_text(out)
    assert load_config(copy) == load_config(path)


def test_show_bad_config_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    path = CONFIGS / "bad" / "syntax_error.toml"
    assert run(["config", "show", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}: TOML syntax error at line 3")


def test_config_without_subcommand_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        run(["config"])
    assert info.value.code == 2


def test_show_rejects_unknown_format() -> None:
    with pytest.raises(SystemExit) as info:
        run(["config", "show", "x.toml", "--format", "yaml"])
    assert info.value.code == 2


_SIM_NODE = """
trader_id = "T-001"
[data_clients.SIM]
factory = "livenode.adapters.sim:SimDataClientFactory"
[data_clients.SIM.config]
venue = "SIM"
[[data_clients.SIM.config.venue_config.instruments]]
symbol = "BTCUSDT"
[[data_clients.SIM.config.venue_config.instruments]]
symbol = "ETHUSDT-PERP"
kind = "perpetual"
base = "ETH"
[exec_clients.SIM]
factory = "livenode.adapters.sim:SimExecClientFactory"
[exec_clients.SIM.config]
venue = "SIM"
[[strategies]]
path = "livenode.trading.examples.ema_cross:EMACross"
config_path = "livenode.trading.examples.ema_cross:EMACrossConfig"
[strategies.config]
trade_size = "0.01"
[[strategies]]
path = "livenode.trading.examples.market_maker:MarketMaker"
config_path = "livenode.trading.examples.market_maker:MarketMakerConfig"
[strategies.config]
trade_size = "0.01"
instrument_id = "{second}"
"""


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("BTCUSDT", 'strategies[1].config.instrument_id: expected an instrument id '
                    '"SYMBOL.VENUE" (e.g. "BTCUSDT.SIM"), got "BTCUSDT": the venue is missing'),
        ("BTCUSDT.BINANCE", 'strategies[1].config.instrument_id: venue "BINANCE" of '
                            '"BTCUSDT.BINANCE" is not a configured venue (configured: SIM)'),
        ("DOGEUSDT.SIM", 'strategies[1].config.instrument_id: "DOGEUSDT.SIM" is not an '
                         "instrument of venue SIM (it lists BTCUSDT.SIM, ETHUSDT-PERP.SIM)"),
    ],
)
def test_validate_checks_each_strategy_instrument_against_the_venues(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, second: str, message: str
) -> None:
    """An instrument id without a venue, of a venue no client serves, or that the sim
    venue does not list, exits 2 with the field path (it used to pass validation and
    fail at run time, the first one with a traceback)."""
    path = tmp_path / "node.toml"
    text = _SIM_NODE.replace("{second}", second)
    text = text.replace('[strategies.config]\ntrade_size = "0.01"\n[[',
                        '[strategies.config]\ntrade_size = "0.01"\n'
                        'instrument_id = "ETHUSDT-PERP.SIM"\n[[', 1)
    path.write_text(text)
    assert run(["config", "validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {path}: {message}\n"


def test_validate_accepts_instruments_the_venue_lists(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "node.toml"
    text = _SIM_NODE.replace("{second}", "BTCUSDT.SIM").replace(
        '[strategies.config]\ntrade_size = "0.01"\n[[',
        '[strategies.config]\ntrade_size = "0.01"\ninstrument_id = "ETHUSDT-PERP.SIM"\n[[', 1)
    path.write_text(text)
    assert run(["config", "validate", str(path)]) == 0, capsys.readouterr().err
