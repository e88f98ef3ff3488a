"""Nested client and strategy configs: imported by path, validated, made effective."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from livenode.config import (
    ClientConfig,
    ConfigError,
    ImportableStrategyConfig,
    load_config,
    load_config_str,
    resolve_client_config,
    resolve_strategy,
    strategy_id_of,
)

from . import helpers
from .conftest import CONFIGS, HELPERS


def strategy_toml(config: str = 'instrument_id = "BTCUSDT.SIM"', cls: str = "DemoStrategy",
                  config_cls: str = "DemoStrategyConfig") -> str:
    return (f'[[strategies]]\npath = "{HELPERS}:{cls}"\nconfig_path = "{HELPERS}:{config_cls}"\n'
            f"[strategies.config]\n{config}\n")


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config_str(text)
    return str(info.value)


def test_full_config_resolves_clients_and_strategies() -> None:
    config = load_config(CONFIGS / "good" / "full.toml")
    sim = resolve_client_config(config.data_clients["SIM"], "data_clients.SIM")
    assert sim.factory is helpers.DemoDataClientFactory
    assert sim.config == helpers.DemoClientConfig(
        port=9100, instruments=["BTCUSDT.SIM", "ETH-PERP.SIM"]
    )
    strategy_cls, strategy_config = resolve_strategy(config.strategies[1], "strategies[1]")
    assert strategy_cls is helpers.DemoStrategy
    assert strategy_config == helpers.DemoStrategyConfig(
        instrument_id="ETH-PERP.SIM", order_id_tag="002"
    )


def test_loaded_nested_configs_hold_effective_values() -> None:
    # Defaults of the factory's config_type are filled in, so `config show`
    # prints them and the node never has to guess.
    config = load_config(CONFIGS / "good" / "full.toml")
    assert config.exec_clients["SIM"].config == {
        "host": "localhost", "port": 9000, "instruments": []
    }
    assert config.strategies[0].config["slow_period"] == 20


def test_exec_client_without_data_client_and_no_strategies_is_valid() -> None:
    config = load_config_str(f'[exec_clients.OTHER]\nfactory = "{HELPERS}:DemoExecClientFactory"')
    assert list(config.exec_clients) == ["OTHER"] and config.strategies == []


def test_factory_module_missing_hints_at_where_it_was_looked_for() -> None:
    text = '[data_clients.SIM]\nfactory = "livenode.adapters.nope:Factory"'
    assert error_of(text) == (
        'data_clients.SIM.factory: cannot import "livenode.adapters.nope:Factory": '
        'module "livenode.adapters.nope" not found (looked for livenode/adapters/nope.py in '
        f"the working directory {os.getcwd()} and sys.path; is the file there?)"
    )


def test_strategy_module_in_the_working_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not on sys.path: only the working directory makes it importable.
    (tmp_path / "livenode_cwd_strategies.py").write_text(
        "from tests.unit.config.helpers import DemoStrategy, DemoStrategyConfig\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    text = (
        '[[strategies]]\npath = "livenode_cwd_strategies:DemoStrategy"\n'
        'config_path = "livenode_cwd_strategies:DemoStrategyConfig"\n'
        '[strategies.config]\ninstrument_id = "BTCUSDT.SIM"\n'
    )
    try:
        config = load_config_str(text)
        strategy_cls, _ = resolve_strategy(config.strategies[0], "strategies[0]")
        assert strategy_cls is helpers.DemoStrategy
        assert sys.path[-1] == str(tmp_path)  # last: never shadows an installed package
    finally:
        sys.modules.pop("livenode_cwd_strategies", None)


def test_factory_attribute_missing() -> None:
    text = f'[exec_clients.SIM]\nfactory = "{HELPERS}:NoSuchFactory"'
    assert error_of(text) == (
        f'exec_clients.SIM.factory: cannot import "{HELPERS}:NoSuchFactory": '
        f'module "{HELPERS}" has no attribute "NoSuchFactory"'
    )


def test_factory_that_is_not_a_factory() -> None:
    text = f'[exec_clients.SIM]\nfactory = "{HELPERS}:NotAFactory"'
    assert error_of(text) == (
        f'exec_clients.SIM.factory: "{HELPERS}:NotAFactory" is not a client factory (expected '
        "a class with a msgspec Struct `config_type` and a `create(name, config, context)` "
        "method)"
    )


def test_module_failing_at_import_is_reported_with_its_error() -> None:
    text = '[data_clients.SIM]\nfactory = "tests.unit.config.broken_module:Factory"'
    assert error_of(text) == (
        'data_clients.SIM.factory: cannot import "tests.unit.config.broken_module:Factory": '
        'importing module "tests.unit.config.broken_module" failed: '
        "RuntimeError: boom while importing"
    )


def test_module_with_a_missing_dependency_is_not_reported_as_not_found() -> None:
    text = '[data_clients.SIM]\nfactory = "tests.unit.config.missing_dependency:Factory"'
    assert error_of(text).endswith(
        'importing module "tests.unit.config.missing_dependency" failed: '
        "No module named 'livenode_no_such_dependency'"
    )


def test_bad_client_config_param_is_prefixed_with_the_client_path() -> None:
    text = (f'[data_clients.SIM]\nfactory = "{HELPERS}:DemoDataClientFactory"\n'
            '[data_clients.SIM.config]\nport = "9000"')
    assert error_of(text) == 'data_clients.SIM.config.port: expected int, got "9000"'


def test_unknown_client_config_param() -> None:
    text = (f'[data_clients.SIM]\nfactory = "{HELPERS}:DemoDataClientFactory"\n'
            '[data_clients.SIM.config]\nhots = "x"')
    assert error_of(text) == (
        "data_clients.SIM.config.hots: unknown field (allowed: host, port, instruments)"
    )


def test_bad_strategy_config_param() -> None:
    text = strategy_toml() + strategy_toml('instrument_id = "X.SIM"\nfast_period = "ten"')
    assert error_of(text) == 'strategies[1].config.fast_period: expected int, got "ten"'


def test_strategy_config_rule_error_gets_the_full_path() -> None:
    text = strategy_toml('instrument_id = "X.SIM"\nfast_period = 30')
    assert error_of(text) == (
        "strategies[0].config.fast_period: expected less than slow_period (20), got 30"
    )


def test_strategy_missing_required_param() -> None:
    assert error_of(strategy_toml("fast_period = 3")) == (
        "strategies[0].config.instrument_id: required field missing"
    )


def test_strategy_path_that_is_not_a_class() -> None:
    assert error_of(strategy_toml(cls="not_a_class")) == (
        f'strategies[0].path: "{HELPERS}:not_a_class" is not a class'
    )


def test_strategy_config_path_that_is_not_a_struct() -> None:
    assert error_of(strategy_toml(config_cls="DemoStrategy")) == (
        f'strategies[0].config_path: "{HELPERS}:DemoStrategy" is not a msgspec Struct class'
    )


def test_duplicate_strategy_ids() -> None:
    text = strategy_toml() + strategy_toml('instrument_id = "ETHUSDT.SIM"')
    assert error_of(text) == (
        'strategies[1]: duplicate strategy id "DemoStrategy-001" (also strategies[0]); '
        "give each strategy a distinct order_id_tag or strategy_id"
    )


def test_explicit_strategy_id_collides_with_a_derived_one() -> None:
    text = strategy_toml() + strategy_toml(
        'instrument_id = "ETHUSDT.SIM"\norder_id_tag = "002"\nstrategy_id = "DemoStrategy-001"'
    )
    assert error_of(text).startswith('strategies[1]: duplicate strategy id "DemoStrategy-001"')


def test_distinct_order_id_tags_are_fine() -> None:
    text = strategy_toml() + strategy_toml('instrument_id = "X.SIM"\norder_id_tag = "002"')
    assert len(load_config_str(text).strategies) == 2


def test_strategy_id_of_follows_the_strategy_config_rule() -> None:
    cfg = helpers.DemoStrategyConfig(instrument_id="A.SIM", order_id_tag="007")
    assert strategy_id_of(helpers.DemoStrategy, cfg) == "DemoStrategy-007"
    cfg = helpers.DemoStrategyConfig(instrument_id="A.SIM", strategy_id="Mine-1")
    assert strategy_id_of(helpers.DemoStrategy, cfg) == "Mine-1"


def test_resolve_functions_take_the_path_used_in_errors() -> None:
    client = ClientConfig(factory=f"{HELPERS}:DemoDataClientFactory", config={"port": "x"})
    with pytest.raises(ConfigError) as info:
        resolve_client_config(client, "data_clients.X")
    assert info.value.path == "data_clients.X.config.port"
    strategy = ImportableStrategyConfig(
        path=f"{HELPERS}:DemoStrategy", config_path=f"{HELPERS}:DemoStrategyConfig", config={}
    )
    with pytest.raises(ConfigError) as info:
        resolve_strategy(strategy, "strategies[3]")
    assert str(info.value) == "strategies[3].config.instrument_id: required field missing"


def test_resolve_false_skips_imports() -> None:
    text = '[data_clients.SIM]\nfactory = "livenode.adapters.nope:Factory"'
    config = load_config_str(text, resolve=False)
    assert config.data_clients["SIM"].factory == "livenode.adapters.nope:Factory"
