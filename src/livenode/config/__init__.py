"""Configuration of the node: frozen msgspec structs, loaded from TOML or JSON.

Every error is a `ConfigError` naming the field path, the bad value and what was
expected, e.g. ``risk_engine.max_order_submit_rate: expected "<count>/<seconds>s"
(e.g. "100/1s"), got "fast"``.
"""

from livenode.config.base import ConfigStruct
from livenode.config.errors import ConfigError
from livenode.config.loader import (
    ResolvedClient,
    ResolvedStrategy,
    config_to_builtins,
    import_object,
    load_config,
    load_config_str,
    resolve_client_config,
    resolve_config,
    resolve_strategy,
    sets_field,
    strategy_id_of,
    strategy_ids,
)
from livenode.config.metrics import MetricsConfig
from livenode.config.structs import (
    CacheConfig,
    ClientConfig,
    DatabaseConfig,
    DataEngineConfig,
    ExecEngineConfig,
    ImportableStrategyConfig,
    LoggingConfig,
    MessageBusConfig,
    PortfolioConfig,
    RiskEngineConfig,
    TimeoutsConfig,
    TradingNodeConfig,
)
from livenode.config.toml_writer import dump_config, dumps_toml
from livenode.config.validators import Rate, parse_rate
from livenode.config.workers import SupervisorConfig, WorkerConfig

__all__ = [
    "CacheConfig",
    "ClientConfig",
    "ConfigError",
    "ConfigStruct",
    "DataEngineConfig",
    "DatabaseConfig",
    "ExecEngineConfig",
    "ImportableStrategyConfig",
    "LoggingConfig",
    "MessageBusConfig",
    "MetricsConfig",
    "PortfolioConfig",
    "Rate",
    "ResolvedClient",
    "ResolvedStrategy",
    "RiskEngineConfig",
    "SupervisorConfig",
    "TimeoutsConfig",
    "TradingNodeConfig",
    "WorkerConfig",
    "config_to_builtins",
    "dump_config",
    "dumps_toml",
    "import_object",
    "load_config",
    "load_config_str",
    "parse_rate",
    "resolve_client_config",
    "resolve_config",
    "resolve_strategy",
    "sets_field",
    "strategy_id_of",
    "strategy_ids",
]
