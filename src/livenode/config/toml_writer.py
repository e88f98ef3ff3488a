"""A small TOML emitter for config builtins, and `dump_config` for `config show`.

The stdlib reads TOML but cannot write it, and the config needs only a small
part of the language: strings, ints, floats, bools, arrays, tables and arrays
of tables. `None` has no TOML spelling; a key whose value is None is left out,
which loads back as the field's default (None), so `show` → `load` round-trips.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from livenode.config.errors import ConfigError
from livenode.config.structs import TradingNodeConfig

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+\Z")


def _key(key: str) -> str:
    if _BARE_KEY_RE.fullmatch(key):
        return key
    return _string(key)


def _string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes), except that
    # TOML also forbids a raw DEL character.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    raise ValueError(f"cannot write {type(value).__name__} value {value!r} as TOML")


def _inline(value: Any) -> str:
    """A value written on one line: scalars, arrays, inline tables."""
    if isinstance(value, dict):
        items = [f"{_key(k)} = {_inline(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    if isinstance(value, (list, tuple)):
        if any(v is None for v in value):
            raise ValueError("cannot write an array containing null as TOML")
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit_table(lines: list[str], keys: list[str], table: dict[str, Any]) -> None:
    """Write the body of a table: its plain keys, then sub-tables, then arrays of tables.

    Plain keys must come first: in TOML every key after a ``[header]`` belongs
    to that header's table.
    """
    subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in table.items() if _is_table_array(v)}
    for k, v in table.items():
        if v is None or k in subtables or k in arrays:
            continue
        lines.append(f"{_key(k)} = {_inline(v)}")
    for k, v in subtables.items():
        sub_keys = [*keys, _key(k)]
        # A table holding only sub-tables needs no header of its own: TOML
        # creates it implicitly (keeps `[data_clients]` out of the output).
        has_plain = any(
            val is not None and not isinstance(val, dict) and not _is_table_array(val)
            for val in v.values()
        )
        if has_plain or not v:
            lines.append("")
            lines.append(f"[{'.'.join(sub_keys)}]")
        _emit_table(lines, sub_keys, v)
    for k, items in arrays.items():
        sub_keys = [*keys, _key(k)]
        for item in items:
            lines.append("")
            lines.append(f"[[{'.'.join(sub_keys)}]]")
            _emit_table(lines, sub_keys, item)


def dumps_toml(data: dict[str, Any]) -> str:
    """Write a dict of builtins as a TOML document."""
    lines: list[str] = []
    _emit_table(lines, [], data)
    text = "\n".join(lines).lstrip("\n")
    return text + "\n"


def dump_config(config: TradingNodeConfig, fmt: str = "toml") -> str:
    """The effective config (defaults included) as TOML or JSON text."""
    data = msgspec.to_builtins(config)
    if fmt == "toml":
        return dumps_toml(data)
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(data), indent=2).decode() + "\n"
    raise ConfigError("", f'unknown output format "{fmt}": expected "toml" or "json"')
