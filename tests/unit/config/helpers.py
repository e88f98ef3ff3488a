"""Tiny client factories and strategies for the config loader's resolution tests.

Referenced from test configs by import path, e.g.
``"tests.unit.config.helpers:DemoDataClientFactory"``.
"""

from __future__ import annotations

from typing import Any

import msgspec


class DemoClientConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a venue client might take: where to connect and which instruments."""

    host: str = "localhost"
    port: int = 9000
    # Instruments are the venue client's business: it provides them to the node.
    instruments: list[str] = []


class DemoDataClientFactory:
    """A factory in the shape the node expects (`config_type` + `create`)."""

    config_type = DemoClientConfig

    @staticmethod
    def create(name: str, config: Any, context: Any) -> Any:
        return (name, config, context)


class DemoExecClientFactory(DemoDataClientFactory):
    """Same shape, for exec clients."""


class NotAFactory:
    """A class without `config_type`/`create`."""


class DemoStrategyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Mirrors `livenode.trading.config.StrategyConfig`'s id fields."""

    instrument_id: str
    strategy_id: str | None = None
    order_id_tag: str = "001"
    fast_period: int = 10
    slow_period: int = 20

    def __post_init__(self) -> None:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"fast_period: expected less than slow_period ({self.slow_period}), "
                f"got {self.fast_period}"
            )


class DemoStrategy:
    """Stands in for a `Strategy` subclass."""

    def __init__(self, config: DemoStrategyConfig) -> None:
        self.config = config


not_a_class = object()
