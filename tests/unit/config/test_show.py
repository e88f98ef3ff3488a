"""`config show` output: effective config as TOML or JSON that loads back equal."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livenode.config import (
    TradingNodeConfig,
    config_to_builtins,
    dump_config,
    dumps_toml,
    load_config,
    load_config_str,
)

from .conftest import CONFIGS

GOOD = sorted((CONFIGS / "good").glob("*.*"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["toml", "json"])
def test_show_then_load_gives_an_equal_config(path: Path, fmt: str) -> None:
    config = load_config(path)
    text = dump_config(config, fmt)
    again = load_config_str(text, fmt)
    assert again == config
    assert dump_config(again, fmt) == text  # and printing is stable


def _without_none(value: object) -> object:
    """TOML has no None: a None value is left out at every level of a table."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def test_show_includes_every_default() -> None:
    data = tomllib.loads(dump_config(load_config(CONFIGS / "good" / "minimal.toml")))
    assert data == _without_none(config_to_builtins(TradingNodeConfig()))
    assert data["timeouts"]["shutdown"] == 30.0
    assert data["risk_engine"]["max_order_submit_rate"] == "100/1s"


def test_show_json_keeps_null_instance_id() -> None:
    data = json.loads(dump_config(TradingNodeConfig(), "json"))
    assert data["instance_id"] is None and data["mode"] == "single"


def test_toml_output_layout() -> None:
    text = dump_config(load_config(CONFIGS / "good" / "full.toml"))
    # Plain keys first, then tables, then arrays of tables with their sub-tables.
    assert text.startswith('trader_id = "TRADER-007"\ninstance_id = "run-42"\n')
    assert '\n[risk_engine.max_notional_per_order]\n"BTCUSDT.SIM" = "50000"\n' in text
    assert "\n[data_clients.SIM]\nfactory = " in text
    assert "\n[[strategies]]\npath = " in text
    assert "\n[strategies.config]\ninstrument_id = " in text


def test_toml_writer_handles_awkward_strings_and_floats() -> None:
    data = {"s": 'quote " backslash \\ newline \n tab \t del \x7f é', "f": 1e-7, "big": 2**62,
            "inf": math.inf, "nested": {"a b": {"c": [1, 2]}}, "list": [[1], ["x"]],
            "inline": [{"a": 1}, 2], "skip": None}
    back = tomllib.loads(dumps_toml(data))
    del data["skip"]
    assert back == data


# Keys and values TOML can hold; None only where the writer drops it (table values).
_keys = st.text(min_size=1, max_size=8)
_scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_toml_writer_round_trips_through_tomllib(data: dict) -> None:
    assert tomllib.loads(dumps_toml(data)) == data


def test_toml_is_written_by_tomli_w_a_declared_dependency() -> None:
    """Issue 10 §7: no hand-written TOML emitter; `tomli-w` writes it."""
    import tomli_w

    data = tomllib.loads(dump_config(load_config(CONFIGS / "good" / "full.toml")))
    assert dumps_toml(data) == tomli_w.dumps(data)
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    deps = pyproject["project"]["dependencies"]
    assert any(d.replace("_", "-").startswith("tomli-w") for d in deps)
    with pytest.raises(ValueError, match="null"):
        dumps_toml({"a": [1, None]})
