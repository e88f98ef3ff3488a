"""StrategyConfig: defaults, validation, subclassing as the config loader uses it."""

from __future__ import annotations

import msgspec
import pytest

from livenode.trading.config import StrategyConfig


class MyConfig(StrategyConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    instrument_id: str
    period: int = 5


def test_defaults_follow_the_contract() -> None:
    c = StrategyConfig()
    assert (c.strategy_id, c.order_id_tag, c.manage_stop, c.manage_stop_timeout, c.on_fault) == (
        None, "001", True, 5.0, "fault",
    )


def test_subclass_decodes_and_rejects_unknown_fields() -> None:
    c = msgspec.convert({"instrument_id": "X.SIM", "on_fault": "stop_node"}, MyConfig)
    assert c.on_fault == "stop_node" and c.period == 5
    with pytest.raises(msgspec.ValidationError, match="unknown field `typo`"):
        msgspec.convert({"instrument_id": "X.SIM", "typo": 1}, MyConfig)
    with pytest.raises(msgspec.ValidationError, match="on_fault"):
        msgspec.convert({"instrument_id": "X.SIM", "on_fault": "explode"}, MyConfig)


def test_validation_messages() -> None:
    with pytest.raises(ValueError, match="manage_stop_timeout"):
        StrategyConfig(manage_stop_timeout=-1.0)
    with pytest.raises(ValueError, match="order_id_tag"):
        StrategyConfig(order_id_tag="a.b")


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        StrategyConfig().manage_stop = False  # type: ignore[misc]
