"""Turn msgspec's validation messages into `ConfigError`s a user can act on.

msgspec says ``Expected `bool`, got `str` - at `$.risk_engine.bypass```; a user
wants ``risk_engine.bypass: expected bool, got "yes"``: the field path as written
in the file, what was expected and the offending value itself. The value is
looked up in the raw document by the path; the allowed names of an unknown
field and the choices of a Literal come from the target type.

msgspec reports a dict entry as ``[...]`` without its key. The key is found by
converting the dict's values one by one, in document order (the order msgspec
checks them in), and explaining the first that fails.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

import msgspec

from livenode.config.errors import ConfigError
from livenode.config.validators import show_value

_AT_RE = re.compile(r"^(?P<body>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_TOKEN_RE = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\.\.\.)\]")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+\Z")
# A __post_init__ message that starts with a relative field path (see structs.py).
_REL_PATH_RE = re.compile(
    r"^(?P<rel>[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\]|\.[A-Za-z_][A-Za-z0-9_]*)*): (?P<rest>.*)$",
    re.DOTALL,
)
_UNKNOWN_RE = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`\Z")
_MISSING_RE = re.compile(r"^Object missing required field `(?P<name>[^`]*)`\Z")
_EXPECTED_GOT_RE = re.compile(r"^Expected `(?P<exp>[^`]*)`, got `(?P<got>[^`]*)`\Z")
_EXPECTED_CONSTRAINT_RE = re.compile(r"^Expected `(?P<exp>[^`]*)` (?P<cons>.+)$", re.DOTALL)
_ENUM_RE = re.compile(r"^Invalid enum value (?P<value>.*)$", re.DOTALL)

# msgspec's names for JSON-ish types, in the words of a TOML file's author.
_TYPE_WORDS = {
    "str": "string",
    "float": "number",
    "object": "table",
    "array": "array",
    "null": "no value",
    "bool": "bool",
    "int": "int",
}

_MISSING = object()
Segment = str | int


def format_path(segments: list[Segment], prefix: str = "") -> str:
    """``["data_clients", "SIM", "config"]`` → ``data_clients.SIM.config``.

    Keys that are not one bare word (``"BTCUSDT.SIM"``) are written in brackets
    and quotes so the path stays unambiguous.
    """
    out = prefix
    for seg in segments:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif _BARE_KEY_RE.match(seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{show_value(seg)}]"
    return out


def join_path(prefix: str, rel: str) -> str:
    """Append a relative path (``"x"`` or ``"[0]"``) to a formatted path."""
    if not prefix:
        return rel
    if not rel:
        return prefix
    return prefix + rel if rel.startswith("[") else f"{prefix}.{rel}"


def _unwrap(tp: Any) -> Any:
    """Strip `Annotated` and `Optional`, which do not change how a path is walked."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            arms = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(arms) != 1:
                return tp
            tp = arms[0]
        else:
            return tp


def _step_type(tp: Any, seg: Segment) -> Any:
    """The type one path segment below `tp`, or None when it cannot be known."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct) and isinstance(seg, str):
        for f in msgspec.structs.fields(tp):
            if f.encode_name == seg:
                return f.type
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, tuple, set, frozenset) and isinstance(seg, int) and args:
        return args[0]
    if origin is dict and args:
        return args[1]
    return None


def _step_raw(raw: Any, seg: Segment) -> Any:
    if isinstance(raw, dict) and isinstance(seg, str):
        return raw.get(seg, _MISSING)
    if isinstance(raw, list) and isinstance(seg, int) and seg < len(raw):
        return raw[seg]
    return _MISSING


def _words(msgspec_type: str) -> str:
    """``str | null`` → ``string or no value``."""
    return " or ".join(_TYPE_WORDS.get(p.strip(), p.strip()) for p in msgspec_type.split("|"))


def _literal_choices(tp: Any) -> list[Any] | None:
    tp = _unwrap(tp)
    if typing.get_origin(tp) is Literal:
        return list(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [m.value for m in tp]
    return None


def translate(
    exc: msgspec.ValidationError, root_type: Any, raw: Any, prefix: str = ""
) -> ConfigError:
    """Explain `exc`, raised converting `raw` to `root_type`, as a `ConfigError`.

    `prefix` is the formatted path of `raw` inside the whole document (e.g.
    ``strategies[1].config``), so nested configs report full paths.
    """
    text = str(exc)
    match = _AT_RE.match(text)
    body, path_text = (match["body"], match["path"]) if match else (text, "")
    segments: list[Segment] = []
    tp, value = root_type, raw
    for tok in _TOKEN_RE.finditer(path_text):
        if tok.group(3):  # a dict entry whose key msgspec did not name
            return _translate_dict_entry(exc, tp, value, format_path(segments, prefix))
        seg: Segment = tok.group(1) if tok.group(1) is not None else int(tok.group(2))
        segments.append(seg)
        tp = _step_type(tp, seg) if tp is not None else None
        value = _step_raw(value, seg)
    here = format_path(segments, prefix)
    shown = show_value(value) if value is not _MISSING else None

    if m := _UNKNOWN_RE.match(body):
        struct = _unwrap(tp)
        allowed = (
            ", ".join(f.encode_name for f in msgspec.structs.fields(struct))
            if isinstance(struct, type) and issubclass(struct, msgspec.Struct)
            else ""
        )
        path = format_path([m["name"]], here)
        return ConfigError(path, f"unknown field (allowed: {allowed or 'none'})")
    if m := _MISSING_RE.match(body):
        return ConfigError(format_path([m["name"]], here), "required field missing")
    if m := _ENUM_RE.match(body):
        choices = _literal_choices(tp)
        got = shown if shown is not None else m["value"]
        if choices:
            return ConfigError(here, f"expected one of {', '.join(map(show_value, choices))}, "
                                     f"got {got}")
        return ConfigError(here, f"invalid value, got {got}")
    if m := _EXPECTED_GOT_RE.match(body):
        got = shown if shown is not None else _words(m["got"])
        return ConfigError(here, f"expected {_words(m['exp'])}, got {got}")
    if m := _EXPECTED_CONSTRAINT_RE.match(body):
        got = f", got {shown}" if shown is not None else ""
        # msgspec writes float bounds as "> 0.0"; users wrote "0".
        cons = re.sub(r"(\d)\.0\b", r"\1", m["cons"])
        return ConfigError(here, f"expected {_words(m['exp'])} {cons}{got}")
    # A __post_init__ error: by convention it names the field relative to `here`.
    if m := _REL_PATH_RE.match(body):
        return ConfigError(join_path(here, m["rel"]), m["rest"])
    return ConfigError(here, body)


def _translate_dict_entry(
    exc: msgspec.ValidationError, dict_type: Any, raw: Any, prefix: str
) -> ConfigError:
    """Find which entry of a dict msgspec complained about, and explain that one."""
    value_type = _step_type(dict_type, "")
    if isinstance(raw, dict) and value_type is not None:
        for key, item in raw.items():
            try:
                msgspec.convert(item, value_type, strict=True)
            except msgspec.ValidationError as inner:
                return translate(inner, value_type, item, format_path([str(key)], prefix))
    # Could not reproduce it entry by entry: report without the key.
    body = _AT_RE.match(str(exc))
    return ConfigError(f"{prefix}[...]", body["body"] if body else str(exc))
