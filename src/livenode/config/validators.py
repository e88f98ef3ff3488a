"""Checks msgspec's type system cannot express, shared by the config structs.

Each check raises `ValueError` with a message of the form
``expected <what>, got <value>``; the structs prefix the field name, and the
loader prefixes the path of the struct inside the document.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from livenode.model.identifiers import InstrumentId, TraderId

# "<count>/<seconds>s": an integer count per a positive decimal number of seconds.
_RATE_RE = re.compile(r"^(\d+)/(\d+(?:\.\d*)?|\.\d+)s\Z")
# "package.module:ClassName" (the class part may be dotted for nested classes).
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_IMPORT_PATH_RE = re.compile(rf"^{_DOTTED}:{_DOTTED}\Z")
# Client names end up in bus topics (`commands.exec.{venue}`), so no dots or spaces.
_CLIENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*\Z")

RATE_FORMAT = '"<count>/<seconds>s" (e.g. "100/1s")'


def show_value(value: Any, limit: int = 60) -> str:
    """Render a value from a config document the way the user wrote it.

    JSON spelling is used because it is also valid TOML for scalars (strings in
    double quotes, true/false), which is what the user sees in the file.
    """
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Rate(NamedTuple):
    """A rate limit: at most `count` events per `seconds`."""

    # The field shadows tuple.count(); `rate.count` is the config's public name.
    count: int  # type: ignore[assignment]
    seconds: float

    @property
    def interval_ns(self) -> int:
        """The window length in nanoseconds, the unit of the node's clocks."""
        return round(self.seconds * 1_000_000_000)

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s"


def parse_rate(text: str) -> Rate:
    """Parse ``"100/1s"`` or ``"10/0.5s"`` into `Rate`; `ValueError` otherwise."""
    match = _RATE_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected {RATE_FORMAT}, got {show_value(text)}")
    count, seconds = int(match.group(1)), float(match.group(2))
    if count <= 0 or seconds <= 0:
        raise ValueError(
            f"expected {RATE_FORMAT} with count > 0 and seconds > 0, got {show_value(text)}"
        )
    return Rate(count, seconds)


def check_trader_id(value: str) -> None:
    """A trader id is ``NAME-TAG`` (e.g. ``TRADER-001``), by `TraderId`'s own rule."""
    try:
        TraderId(value)
    except (ValueError, TypeError):
        raise ValueError(
            f'expected "NAME-TAG" (e.g. "TRADER-001"), got {show_value(value)}'
        ) from None


def check_instrument_id(value: str) -> None:
    """An instrument id is ``SYMBOL.VENUE`` (split on the last dot), as `InstrumentId`."""
    try:
        InstrumentId(value)
    except (ValueError, TypeError):
        raise ValueError(
            'expected an instrument id "SYMBOL.VENUE" (e.g. "BTCUSDT.SIM"), '
            f"got {show_value(value)}"
        ) from None


def check_positive_decimal(value: str) -> Decimal:
    """Amounts are decimal strings so no float rounding creeps into risk limits."""
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        number = None
    if number is None or not number.is_finite() or number <= 0:
        raise ValueError(
            f'expected a positive decimal string (e.g. "50000"), got {show_value(value)}'
        )
    return number


def check_import_path(value: str) -> None:
    """Factories and strategies are named ``"package.module:ClassName"``."""
    if _IMPORT_PATH_RE.match(value) is None:
        raise ValueError(
            f'expected an import path "package.module:ClassName", got {show_value(value)}'
        )


def check_client_name(value: str) -> None:
    """Client names become parts of bus topics, so they must be one topic token."""
    if _CLIENT_NAME_RE.match(value) is None:
        raise ValueError(
            "expected a client name of letters, digits, '_' or '-' (e.g. \"SIM\"), "
            f"got {show_value(value)}"
        )


def check_bindable(value: str) -> None:
    """An IPv4 address of this host (or 0.0.0.0), or a name resolving to one: what the
    tcp bus's publishers can bind. ZeroMQ sockets here are IPv4 (no ZMQ_IPV6), so an
    IPv6 address is refused; a remote address fails the same bind the workers would
    try, here, with its reason.
    """
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is not None and address.version == 6:
        raise ValueError(
            f"the tcp bus binds IPv4 only, got {show_value(value)}: use 127.0.0.1 (or an "
            "IPv4 address of this host)"
        )
    try:
        infos = socket.getaddrinfo(value, None, socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(
            f"{show_value(value)} has no IPv4 address ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    host = str(infos[0][4][0])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError as exc:
            raise ValueError(
                f"cannot bind {show_value(value)} ({host}): {exc.strerror or exc}; the tcp "
                "bus needs an address of this host (127.0.0.1 for one host)"
            ) from None


def check_host(value: str) -> None:
    """An IP address, or a host name that resolves now.

    An address literal is checked without any lookup, so loopback and default
    configs cost nothing; a name is resolved once (`socket.getaddrinfo`), so a
    typo fails at validation instead of when the workers try to bind.
    """
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    reason = "empty"
    if value.strip():
        try:
            socket.getaddrinfo(value, None, type=socket.SOCK_STREAM)
            return
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
    raise ValueError(
        f"expected an IP address or a host name that resolves, got {show_value(value)} ({reason})"
    )
