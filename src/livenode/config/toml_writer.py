"""`dumps_toml` and `dump_config` for `config show`: TOML written by `tomli-w`.

The stdlib reads TOML but cannot write it; `tomli-w` (the writer msgspec's own
TOML encoder uses) does. `None` has no TOML spelling: a key whose value is None
is left out, which loads back as the field's default (None), so `show` → `load`
round-trips. An array holding None cannot be written and raises `ValueError`.
"""

from __future__ import annotations

from typing import Any

import msgspec
import tomli_w

from livenode.config.errors import ConfigError
from livenode.config.structs import TradingNodeConfig


def _without_none(value: Any) -> Any:
    """Drop None values from tables (at any depth); refuse None inside arrays."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise ValueError("cannot write an array containing null as TOML")
        return [_without_none(v) for v in value]
    return value


def dumps_toml(data: dict[str, Any]) -> str:
    """Write a dict of builtins as a TOML document."""
    return tomli_w.dumps(_without_none(data))


def dump_config(config: TradingNodeConfig, fmt: str = "toml") -> str:
    """The effective config (defaults included) as TOML or JSON text."""
    data = msgspec.to_builtins(config)
    if fmt == "toml":
        return dumps_toml(data)
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n"
    raise ConfigError("", f'unknown output format "{fmt}": expected "toml" or "json"')
