"""The config structs themselves: defaults, immutability, their own rules."""

from __future__ import annotations

import msgspec
import pytest

from livenode.config import (
    CacheConfig,
    ClientConfig,
    ConfigError,
    ImportableStrategyConfig,
    LoggingConfig,
    Rate,
    RiskEngineConfig,
    TimeoutsConfig,
    TradingNodeConfig,
    parse_rate,
)


def test_defaults_are_the_documented_ones() -> None:
    config = TradingNodeConfig()
    assert config.trader_id == "TRADER-001"
    assert config.instance_id is None
    assert (config.mode, config.environment) == ("single", "sandbox")
    assert config.status_interval == 5.0
    assert (config.save_state, config.load_state) == (True, True)
    assert config.data_engine.time_bars_build_with_no_updates is True
    risk = config.risk_engine
    assert (risk.bypass, risk.trading_state) == (False, "ACTIVE")
    assert risk.max_order_submit_rate == risk.max_order_modify_rate == "100/1s"
    assert risk.max_notional_per_order == {}
    assert config.exec_engine.reconciliation is True
    assert config.exec_engine.filter_position_reports is False
    assert config.cache.max_closed_orders == 10_000
    assert config.logging.level == "INFO"
    t = config.timeouts
    assert (t.connection, t.reconciliation, t.portfolio, t.disconnection, t.post_stop,
            t.shutdown) == (10, 10, 10, 10, 5, 30)
    assert config.data_clients == {} and config.exec_clients == {} and config.strategies == []


def test_structs_are_frozen_and_keyword_only() -> None:
    config = TradingNodeConfig()
    with pytest.raises(AttributeError):
        config.trader_id = "OTHER-001"  # type: ignore[misc]
    with pytest.raises(TypeError):
        TimeoutsConfig(1.0)  # type: ignore[misc]


def test_struct_rules_also_apply_on_direct_construction() -> None:
    # __post_init__ runs for Python construction too, not only when loading.
    with pytest.raises(ValueError, match=r"^trader_id: expected \"NAME-TAG\""):
        TradingNodeConfig(trader_id="nodash")
    with pytest.raises(ValueError, match=r"^shutdown: expected more than"):
        TimeoutsConfig(shutdown=1.0)
    with pytest.raises(ValueError, match=r"^max_order_modify_rate: expected"):
        RiskEngineConfig(max_order_modify_rate="1 per second")
    with pytest.raises(ValueError, match=r"^factory: expected an import path"):
        ClientConfig(factory="no_colon")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100/1s", Rate(100, 1.0)), ("10/0.5s", Rate(10, 0.5)), ("1/60s", Rate(1, 60.0)),
     ("5/.25s", Rate(5, 0.25))],
)
def test_parse_rate_accepts_count_per_seconds(text: str, expected: Rate) -> None:
    rate = parse_rate(text)
    assert rate == expected
    assert rate.interval_ns == round(expected.seconds * 1e9)
    assert parse_rate(str(rate)) == rate


@pytest.mark.parametrize("text", ["fast", "100", "100/1", "100/s", "0/1s", "10/0s", "-1/1s",
                                  "1.5/1s", " 100/1s", "100/1ms"])
def test_parse_rate_rejects_everything_else(text: str) -> None:
    with pytest.raises(ValueError, match=r'expected "<count>/<seconds>s"'):
        parse_rate(text)


def test_config_error_carries_path_and_message() -> None:
    err = ConfigError("risk_engine.bypass", 'expected bool, got "yes"')
    assert (err.path, err.message) == ("risk_engine.bypass", 'expected bool, got "yes"')
    assert str(err) == 'risk_engine.bypass: expected bool, got "yes"'
    assert isinstance(err, ValueError)
    assert str(ConfigError("", "whole document")) == "whole document"


def test_msgspec_options_are_inherited_by_every_struct() -> None:
    for cls in (TradingNodeConfig, RiskEngineConfig, TimeoutsConfig, ClientConfig,
                ImportableStrategyConfig, CacheConfig, LoggingConfig):
        cfg = cls.__struct_config__
        assert cfg.frozen and cfg.forbid_unknown_fields, cls
        assert issubclass(cls, msgspec.Struct)
        with pytest.raises(TypeError):  # kw_only on every class: no positional arguments
            cls("x")


def test_a_negative_inflight_timeout_is_refused_naming_the_field() -> None:
    from livenode.config.loader import load_config_str

    config = load_config_str("[exec_engine]\ninflight_timeout = 2.5\n", resolve=False)
    assert config.exec_engine.inflight_timeout == 2.5
    with pytest.raises(ConfigError) as err:
        load_config_str("[exec_engine]\ninflight_timeout = -1\n", resolve=False)
    assert err.value.path == "exec_engine.inflight_timeout", err.value
    assert ">= 0" in err.value.message


def test_logging_section_file_rotation_format_levels() -> None:
    from livenode.config import load_config_str

    config = load_config_str(
        '[logging]\nlevel = "WARNING"\nfile = "logs/node.log"\nfile_max_bytes = 1000\n'
        'file_backups = 3\nformat = "json"\nlog_fills = false\n'
        'levels = { "adapters.sim" = "DEBUG" }\n',
        "toml",
    )
    log = config.logging
    assert (log.level, log.file, log.file_max_bytes, log.file_backups) == (
        "WARNING", "logs/node.log", 1000, 3)
    assert (log.format, log.log_fills, log.levels) == ("json", False, {"adapters.sim": "DEBUG"})
    # Each worker of a multiprocess node writes a file of its own.
    assert log.file_for(None) == "logs/node.log"
    assert log.file_for("trader-1") == "logs/node-trader-1.log"
    assert LoggingConfig(file="node").file_for("data-1") == "node-data-1"
    # The screen shows WARNING and up by default; the file is `livenode run`'s default
    # in the data directory unless set.
    assert log.console_level == "WARNING" and config.log_file() == "logs/node.log"
    default = load_config_str('trader_id = "T-001"\ndata_dir = "/srv/n"\n'
                              '[logging]\nconsole_level = "INFO"\n', "toml")
    assert default.logging.console_level == "INFO"
    assert default.log_file() == "/srv/n/logs/T-001.log"
    with pytest.raises(ConfigError, match=r"logging\.levels\[\"adapters\.sim\"\]: expected one of"):
        load_config_str('[logging]\nlevels = { "adapters.sim" = "LOUD" }\n', "toml")
    with pytest.raises(ConfigError, match=r"logging.levels: expected the key to be a component"):
        load_config_str('[logging]\nlevels = { "a b" = "INFO" }\n', "toml")
