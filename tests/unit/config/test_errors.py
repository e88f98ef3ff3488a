"""Bad configs: one test per class of error, each checking the exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from livenode.config import ConfigError, load_config, load_config_str

from .conftest import CONFIGS, HELPERS


def error_of(text: str, fmt: str = "toml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config_str(text, fmt)
    return info.value


def test_toml_syntax_error_names_line_and_column() -> None:
    err = error_of('trader_id = "TRADER-001"\n\nmode = = "single"\n')
    assert str(err) == "TOML syntax error at line 3, column 8: invalid value"
    assert err.line == 3 and err.path == ""


def test_json_syntax_error_names_line_and_column() -> None:
    err = error_of('{\n  "trader_id": "TRADER-001",\n  "mode": \n}', "json")
    assert str(err) == "JSON syntax error at line 4, column 1: expecting value"
    assert err.line == 4


def test_json_duplicate_key_is_an_error() -> None:
    err = error_of('{"mode": "single", "mode": "multiprocess"}', "json")
    assert str(err) == 'JSON error: duplicate key "mode"'


def test_json_top_level_must_be_an_object() -> None:
    assert str(error_of("[1, 2]", "json")) == (
        "expected a JSON object of settings at the top level, got [1, 2]"
    )


def test_unknown_top_level_field_lists_allowed_names() -> None:
    err = error_of('trader = "TRADER-001"')
    assert err.path == "trader"
    assert err.message.startswith("unknown field (allowed: trader_id, instance_id, mode, ")
    assert err.message.endswith("exec_clients, strategies, supervisor, workers)")


def test_unknown_nested_field_lists_allowed_names() -> None:
    assert str(error_of("[risk_engine]\nmax_rate = 5")) == (
        "risk_engine.max_rate: unknown field (allowed: bypass, trading_state, "
        "max_order_submit_rate, max_order_modify_rate, max_notional_per_order, state_wait)"
    )


def test_unknown_field_inside_a_client_table_names_the_client() -> None:
    err = error_of('[data_clients.SIM]\nfactory = "a.b:C"\nfactroy = "x"')
    assert str(err) == "data_clients.SIM.factroy: unknown field (allowed: factory, config)"


def test_wrong_type_shows_the_bad_value() -> None:
    assert str(error_of('[risk_engine]\nbypass = "yes"')) == (
        'risk_engine.bypass: expected bool, got "yes"'
    )
    assert str(error_of("status_interval = true")) == "status_interval: expected number, got true"
    assert str(error_of("risk_engine = 5")) == "risk_engine: expected table, got 5"


def test_wrong_type_in_json_too() -> None:
    err = error_of('{"timeouts": {"post_stop": "5s"}}', "json")
    assert str(err) == 'timeouts.post_stop: expected number, got "5s"'


def test_missing_required_field() -> None:
    err = error_of(f'[[strategies]]\nconfig_path = "{HELPERS}:DemoStrategyConfig"')
    assert str(err) == "strategies[0].path: required field missing"


def test_bad_literal_lists_the_choices() -> None:
    assert str(error_of('mode = "cluster"')) == (
        'mode: expected one of "single", "multiprocess", got "cluster"'
    )
    assert str(error_of('[risk_engine]\ntrading_state = "PAUSED"')) == (
        'risk_engine.trading_state: expected one of "ACTIVE", "REDUCING", "HALTED", got "PAUSED"'
    )
    assert str(error_of('[logging]\nlevel = "info"')) == (
        'logging.level: expected one of "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", '
        'got "info"'
    )


def test_bad_rate() -> None:
    assert str(error_of('[risk_engine]\nmax_order_submit_rate = "fast"')) == (
        'risk_engine.max_order_submit_rate: expected "<count>/<seconds>s" (e.g. "100/1s"), '
        'got "fast"'
    )


def test_bad_trader_id() -> None:
    assert str(error_of('trader_id = "TRADER001"')) == (
        'trader_id: expected "NAME-TAG" (e.g. "TRADER-001"), got "TRADER001"'
    )


def test_bad_instrument_id_key() -> None:
    err = error_of('[risk_engine.max_notional_per_order]\n"BTCUSDT" = "1000"')
    assert str(err) == (
        'risk_engine.max_notional_per_order["BTCUSDT"]: expected the key to be an instrument '
        'id "SYMBOL.VENUE" (e.g. "BTCUSDT.SIM"), got "BTCUSDT"'
    )


def test_bad_notional_value_names_its_key() -> None:
    text = '[risk_engine.max_notional_per_order]\n"BTCUSDT.SIM" = "5"\n"ETHUSDT.SIM" = "-5"'
    assert str(error_of(text)) == (
        'risk_engine.max_notional_per_order["ETHUSDT.SIM"]: expected a positive decimal '
        'string (e.g. "50000"), got "-5"'
    )
    # A number instead of a string: found by key although msgspec does not name it.
    text = '[risk_engine.max_notional_per_order]\n"BTCUSDT.SIM" = "5"\n"ETHUSDT.SIM" = 5'
    assert str(error_of(text)) == (
        'risk_engine.max_notional_per_order["ETHUSDT.SIM"]: expected string, got 5'
    )


def test_negative_timeout() -> None:
    assert str(error_of("[timeouts]\nconnection = -1")) == (
        "timeouts.connection: expected number > 0, got -1"
    )
    assert str(error_of("[cache]\nmax_closed_orders = 0")) == (
        "cache.max_closed_orders: expected int >= 1, got 0"
    )


def test_timeout_ordering_names_both_sides() -> None:
    assert str(error_of("[timeouts]\nshutdown = 15\npost_stop = 5")) == (
        "timeouts.shutdown: expected more than timeouts.disconnection + timeouts.post_stop "
        "(10 + 5 = 15), got 15"
    )


def test_bad_client_name() -> None:
    err = error_of('[exec_clients."MY VENUE"]\nfactory = "a.b:C"')
    assert str(err) == (
        "exec_clients[\"MY VENUE\"]: expected the key to be a client name of letters, digits, "
        "'_' or '-' (e.g. \"SIM\"), got \"MY VENUE\""
    )


def test_malformed_import_path() -> None:
    err = error_of('[data_clients.SIM]\nfactory = "livenode.adapters.sim.SimFactory"')
    assert str(err) == (
        'data_clients.SIM.factory: expected an import path "package.module:ClassName", '
        'got "livenode.adapters.sim.SimFactory"'
    )


def test_unsupported_file_suffix(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text("trader_id: TRADER-001\n")
    with pytest.raises(ConfigError, match=r'^unsupported file type "\.yaml": expected a \.toml'):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^file not found: .*nope\.toml$"):
        load_config(tmp_path / "nope.toml")


def test_unknown_format_string() -> None:
    assert str(error_of("x", "yaml")) == 'unknown config format "yaml": expected "toml" or "json"'


def _bad_fixtures() -> list[Path]:
    return sorted((CONFIGS / "bad").glob("*.toml"))


@pytest.mark.parametrize("path", _bad_fixtures(), ids=lambda p: p.stem)
def test_bad_fixture_files_fail_with_their_expected_message(path: Path) -> None:
    # Each bad fixture states the start of its expected message on line 1.
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(first.removeprefix("# expect: "))


def test_bad_json_fixture() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / "bad" / "wrong_type.json")
    assert str(info.value) == 'risk_engine.bypass: expected bool, got "yes"'


def test_multiprocess_shutdown_must_exceed_the_sum_of_stop_phases() -> None:
    err = error_of(
        'mode = "multiprocess"\n[timeouts]\nshutdown = 20\n'
        "[supervisor.stop_timeouts]\ntrader = 10\ndata = 5\nrisk = 5\nexec = 10\n"
    )
    assert str(err) == (
        "timeouts.shutdown: expected more than the sum of supervisor.stop_timeouts "
        "(trader 10 + data 5 + risk 5 + exec 10 = 30), got 20"
    )


def test_worker_role_must_be_known() -> None:
    err = error_of('[[workers]]\nname = "w"\nrole = "strategy"\n')
    assert err.path == "workers[0].role"
    assert "strategy" in err.message and "trader" in err.message


def test_a_trailing_newline_is_not_a_valid_rate() -> None:
    # `$` in a regex matches before a final newline; the validators must not.
    err = error_of('[risk_engine]\nmax_order_submit_rate = "100/1s\\n"\n')
    assert err.path == "risk_engine.max_order_submit_rate"
