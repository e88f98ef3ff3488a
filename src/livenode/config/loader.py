"""Load a `TradingNodeConfig` from TOML or JSON and validate all of it.

Loading happens in three steps, each turning every failure into a
`ConfigError` naming the field path, the bad value and what was expected:

1. parse the text (syntax errors carry the line and column);
2. convert the document to `TradingNodeConfig` with msgspec (types, unknown
   and missing fields, Literal choices, the structs' own rules);
3. resolve the nested configs: import each client factory and strategy by its
   ``"package.module:ClassName"`` path and convert its ``config`` table to the
   Struct it declares, so a typo in a strategy parameter fails at load time, not
   when the node has half started.

Conversion is strict (``msgspec.convert(strict=True)``): TOML and JSON carry
real types, so ``"10"`` for an int is a mistake to report, not a value to
coerce. Ints are still accepted where a float is expected.

After step 3 the nested ``config`` tables hold the *effective* values (the
Struct's defaults filled in), so `config show` prints them and loading its
output again gives an equal config.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

import msgspec

from livenode.config.errors import ConfigError
from livenode.config.messages import format_path, join_path, translate
from livenode.config.structs import ClientConfig, ImportableStrategyConfig, TradingNodeConfig
from livenode.config.validators import show_value

FORMATS = ("toml", "json")
_SUFFIXES = {".toml": "toml", ".json": "json"}
_TOML_POS_RE = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


class ResolvedClient(NamedTuple):
    """A client factory class and its validated config Struct."""

    factory: Any
    config: msgspec.Struct


class ResolvedStrategy(NamedTuple):
    """A strategy class and its validated config Struct."""

    strategy_cls: type
    config: msgspec.Struct


# --------------------------------------------------------------------------- parsing


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON allows repeated keys and json.loads silently keeps the last one;
    # in a config that hides a mistake, so it is an error (as it is in TOML).
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_document(text: str, fmt: str) -> dict[str, Any]:
    """Parse config text into plain builtins; syntax errors become `ConfigError`."""
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = _TOML_POS_RE.match(str(exc))
            msg = m["msg"] if m else str(exc)
            msg = msg[:1].lower() + msg[1:]
            if m and m["line"]:
                line = int(m["line"])
                where = f" at line {line}, column {m['col']}"
            else:
                line, where = None, " at end of document" if m else ""
            raise ConfigError("", f"TOML syntax error{where}: {msg}", line=line) from None
    if fmt == "json":
        try:
            doc = json.loads(
                text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
            )
        except json.JSONDecodeError as exc:
            msg = exc.msg[:1].lower() + exc.msg[1:]
            raise ConfigError(
                "", f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {msg}",
                line=exc.lineno,
            ) from None
        except _DuplicateKey as exc:
            raise ConfigError("", f"JSON error: duplicate key {show_value(exc.args[0])}") from None
        except ValueError as exc:
            raise ConfigError("", f"JSON syntax error: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(
                "", f"expected a JSON object of settings at the top level, got {show_value(doc)}"
            )
        return doc
    raise ConfigError("", f"unknown config format {show_value(fmt)}: expected \"toml\" or \"json\"")


def convert_document(raw: dict[str, Any]) -> TradingNodeConfig:
    """Convert a parsed document to `TradingNodeConfig` (no imports happen here)."""
    try:
        return msgspec.convert(raw, TradingNodeConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise translate(exc, TradingNodeConfig, raw) from None


def load_config_str(text: str, fmt: str = "toml", *, resolve: bool = True) -> TradingNodeConfig:
    """Load a config from text in `fmt` (``"toml"`` or ``"json"``).

    With `resolve` (the default) the client factories and strategies are
    imported and their configs validated; pass False to check only the
    document's own structure (e.g. before the adapters are installed).
    """
    config = convert_document(parse_document(text, fmt))
    return resolve_config(config) if resolve else config


def load_config(path: str | Path, *, resolve: bool = True) -> TradingNodeConfig:
    """Load a config file; its suffix (``.toml`` or ``.json``) picks the format."""
    path = Path(path)
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(
            "", f"unsupported file type {show_value(path.suffix or path.name)}: "
                "expected a .toml or .json file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "", f"file is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror or exc}") from None
    return load_config_str(text, fmt, resolve=resolve)


def sets_field(path: str | Path, name: str) -> bool:
    """Whether the config file itself sets the top-level field `name` (False when the
    value comes from the default). For a file that `load_config` has accepted."""
    path = Path(path)
    fmt = _SUFFIXES.get(path.suffix.lower(), "toml")
    return name in parse_document(path.read_text(encoding="utf-8"), fmt)


# ------------------------------------------------------------------------- resolving


def working_dir_on_path() -> str | None:
    """Put the working directory on `sys.path` (last) unless it is there; return it.

    Config import paths (``path``, ``config_path``, ``factory``) are resolved like
    ``python -m`` resolves modules: a ``my_strategies.py`` in the directory the node
    is started from is importable without ``PYTHONPATH``. It goes last, so it never
    shadows an installed package or a ``PYTHONPATH`` entry. None: no working
    directory (it was removed).
    """
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    real = os.path.realpath(cwd)
    # "" on sys.path (python -c, the REPL) means the working directory too.
    if all(os.path.realpath(entry or os.curdir) != real for entry in sys.path):
        sys.path.append(cwd)
    return cwd


def import_object(import_path: str, path: str) -> Any:
    """Import ``"package.module:Name"``; failures name the field `path` and the reason.

    The working directory is on the import path (see `working_dir_on_path`).
    """
    module_name, _, attr_path = import_path.partition(":")
    where = f"cannot import {show_value(import_path)}"
    cwd = working_dir_on_path()
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Tell "the module named in the config does not exist" apart from "it
        # exists but one of its own imports is missing" (a broken install).
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):
            file = module_name.replace(".", "/") + ".py"
            looked = f"the working directory {cwd} and sys.path" if cwd else "sys.path"
            raise ConfigError(
                path,
                f"{where}: module {show_value(module_name)} not found (looked for {file} "
                f"in {looked}; is the file there?)",
            ) from None
        raise ConfigError(
            path, f"{where}: importing module {show_value(module_name)} failed: {exc}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any import-time failure is a config problem here
        raise ConfigError(
            path,
            f"{where}: importing module {show_value(module_name)} failed: "
            f"{type(exc).__name__}: {exc}",
        ) from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                path,
                f"{where}: module {show_value(module_name)} has no attribute {show_value(part)}",
            ) from None
    return obj


def _is_struct_type(obj: Any) -> TypeGuard[type[msgspec.Struct]]:
    return isinstance(obj, type) and issubclass(obj, msgspec.Struct)


def _convert_nested(raw: dict[str, Any], struct_type: type, path: str) -> msgspec.Struct:
    try:
        return msgspec.convert(raw, struct_type, strict=True)
    except msgspec.ValidationError as exc:
        raise translate(exc, struct_type, raw, path) from None


def resolve_client_config(client_cfg: ClientConfig, path: str = "client") -> ResolvedClient:
    """Import a client's factory and validate its ``config`` against `config_type`.

    `path` is where the client sits in the document (``"data_clients.SIM"``); it
    prefixes every error. Returns ``(factory, config_struct)``.
    """
    factory_path = join_path(path, "factory")
    factory = import_object(client_cfg.factory, factory_path)
    config_type = getattr(factory, "config_type", None)
    if not _is_struct_type(config_type) or not callable(getattr(factory, "create", None)):
        raise ConfigError(
            factory_path,
            f"{show_value(client_cfg.factory)} is not a client factory (expected a class "
            "with a msgspec Struct `config_type` and a `create(name, config, context)` method)",
        )
    config = _convert_nested(client_cfg.config, config_type, join_path(path, "config"))
    return ResolvedClient(factory, config)


def resolve_strategy(
    strategy_cfg: ImportableStrategyConfig, path: str = "strategy"
) -> ResolvedStrategy:
    """Import a strategy class and its config Struct; validate ``config`` against it.

    Returns ``(strategy_cls, config_struct)``; errors are prefixed with `path`
    (``"strategies[1]"``).
    """
    cls_path = join_path(path, "path")
    strategy_cls = import_object(strategy_cfg.path, cls_path)
    if not isinstance(strategy_cls, type):
        raise ConfigError(cls_path, f"{show_value(strategy_cfg.path)} is not a class")
    cfg_path = join_path(path, "config_path")
    config_type = import_object(strategy_cfg.config_path, cfg_path)
    if not _is_struct_type(config_type):
        raise ConfigError(
            cfg_path, f"{show_value(strategy_cfg.config_path)} is not a msgspec Struct class"
        )
    config = _convert_nested(strategy_cfg.config, config_type, join_path(path, "config"))
    return ResolvedStrategy(strategy_cls, config)


def strategy_id_of(strategy_cls: type, config: Any) -> str:
    """The id a strategy will run under: its configured `strategy_id`, else
    ``"{ClassName}-{order_id_tag}"`` (the `StrategyConfig` rule)."""
    explicit = getattr(config, "strategy_id", None)
    if explicit:
        return str(explicit)
    return f"{strategy_cls.__name__}-{getattr(config, 'order_id_tag', '001')}"


def strategy_ids(config: TradingNodeConfig) -> list[str]:
    """Every strategy's id, in configuration order (`strategy_id_of` of each)."""
    ids = []
    for index, strategy_cfg in enumerate(config.strategies):
        strategy_cls, struct = resolve_strategy(strategy_cfg, f"strategies[{index}]")
        ids.append(strategy_id_of(strategy_cls, struct))
    return ids


def _effective(raw: dict[str, Any], struct: msgspec.Struct, struct_type: type) -> dict[str, Any]:
    """The nested config as builtins with defaults filled in, when that round-trips.

    Falls back to the table as written when the Struct's builtins form is not a
    table or does not convert back (exotic field types), so normalising can
    never turn a valid config into an invalid one.
    """
    builtins = msgspec.to_builtins(struct)
    if not isinstance(builtins, dict):
        return raw
    try:
        msgspec.convert(builtins, struct_type, strict=True)
    except (msgspec.ValidationError, TypeError, ValueError):
        return raw
    return builtins


def resolve_config(config: TradingNodeConfig) -> TradingNodeConfig:
    """Validate every nested client and strategy config; return the effective config.

    Also checks what no single entry can: two strategies resolving to the same
    strategy id (their orders and events would be indistinguishable).
    """
    clients: dict[str, dict[str, ClientConfig]] = {}
    venues: dict[str, set[str] | None] = {}
    for section in ("data_clients", "exec_clients"):
        resolved_section: dict[str, ClientConfig] = {}
        for name, client_cfg in getattr(config, section).items():
            factory, struct = resolve_client_config(client_cfg, format_path([section, name]))
            _add_venue(venues, name, factory, struct)
            effective = _effective(client_cfg.config, struct, type(struct))
            resolved_section[name] = msgspec.structs.replace(client_cfg, config=effective)
        clients[section] = resolved_section

    strategies: list[ImportableStrategyConfig] = []
    seen: dict[str, int] = {}
    for i, strategy_cfg in enumerate(config.strategies):
        strategy_cls, struct = resolve_strategy(strategy_cfg, f"strategies[{i}]")
        sid = strategy_id_of(strategy_cls, struct)
        if sid in seen:
            raise ConfigError(
                f"strategies[{i}]",
                f"duplicate strategy id {show_value(sid)} (also strategies[{seen[sid]}]); "
                "give each strategy a distinct order_id_tag or strategy_id",
            )
        seen[sid] = i
        _check_instrument_ids(struct, f"strategies[{i}].config", venues)
        effective = _effective(strategy_cfg.config, struct, type(struct))
        strategies.append(msgspec.structs.replace(strategy_cfg, config=effective))

    return msgspec.structs.replace(
        config,
        data_clients=clients["data_clients"],
        exec_clients=clients["exec_clients"],
        strategies=strategies,
    )


def _add_venue(
    venues: dict[str, set[str] | None], name: str, factory: Any, struct: msgspec.Struct
) -> None:
    """Record the venue a client serves (its config's `venue`, else its name) and,
    when its factory can tell (`configured_instruments(config)`), the instrument ids
    it will list; None where a client's instruments are known only once connected."""
    # The config layer does not import the adapter seam: a factory is duck-typed
    # here (`ClientFactory.configured_instruments`, None by default).
    lister = getattr(factory, "configured_instruments", None)
    listed = lister(struct) if callable(lister) else None
    if listed is not None:
        venue, instruments = listed
        known = venues.get(venue, set())
        venues[venue] = None if known is None else known | set(instruments)
        return
    venue = getattr(struct, "venue", None) or name
    if venue not in venues:
        venues[str(venue)] = set()
    # A client that lists nothing up front (an exec client): its venue is known,
    # its instruments come from the data client of the venue, if there is one.


def _instrument_fields(struct: msgspec.Struct) -> Iterator[tuple[str, Any]]:
    """(field name or name[index], value) of every instrument id field of a strategy
    config: ``instrument_id``, ``*_instrument_id`` and the ``*instrument_ids`` lists."""
    for field_name in struct.__struct_fields__:
        value = getattr(struct, field_name)
        if field_name == "instrument_id" or field_name.endswith("_instrument_id"):
            if value is not None:
                yield field_name, value
        elif (field_name == "instrument_ids" or field_name.endswith("_instrument_ids")) and (
            isinstance(value, (list, tuple))
        ):
            for index, item in enumerate(value):
                yield f"{field_name}[{index}]", item


def _check_instrument_ids(
    struct: msgspec.Struct, path: str, venues: dict[str, set[str] | None]
) -> None:
    """Each instrument id of a strategy is "SYMBOL.VENUE", of a configured venue, and
    one of the instruments that venue lists (when its client lists them up front)."""
    for field_name, value in _instrument_fields(struct):
        field_path = join_path(path, field_name)
        text = str(value)
        symbol, dot, venue = text.rpartition(".")
        if not dot or not symbol or not venue:
            raise ConfigError(
                field_path,
                f'expected an instrument id "SYMBOL.VENUE" (e.g. "BTCUSDT.SIM"), got '
                f"{show_value(text)}: the venue is missing",
            )
        if not venues:
            continue  # no clients in the file (a node given its clients in code)
        if venue not in venues:
            raise ConfigError(
                field_path,
                f"venue {show_value(venue)} of {show_value(text)} is not a configured venue "
                f"(configured: {', '.join(sorted(venues))})",
            )
        listed = venues[venue]
        if listed and text not in listed:
            raise ConfigError(
                field_path,
                f"{show_value(text)} is not an instrument of venue {venue} (it lists "
                f"{', '.join(sorted(listed))})",
            )


def config_to_builtins(config: TradingNodeConfig) -> dict[str, Any]:
    """The config as plain dicts/lists/scalars, every default included."""
    builtins: dict[str, Any] = msgspec.to_builtins(config)
    return builtins
