"""The node's bus security policy: which CURVE keys the bus uses, if any.

The config layer checks the rule it can see (tcp needs `curve_keys_dir` unless
`insecure_tcp`); this module reads the keys themselves (`livenode.bus.curve`),
so a missing or unprotected key file is a config error too, naming the field,
before any worker starts. The control channel is not covered: it is always an
ipc socket in the node's private run directory, never tcp.
"""

from __future__ import annotations

import logging
from pathlib import Path

from livenode.bus.curve import CurveKeyError, CurveKeys, load_keys
from livenode.config import ConfigError
from livenode.config.structs import MessageBusConfig

KEYS_FIELD = "message_bus.curve_keys_dir"


def bus_keys(bus: MessageBusConfig) -> CurveKeys | None:
    """The CURVE keys of a tcp bus; None for ipc, or for tcp run insecurely.

    Raises `ConfigError` naming `message_bus.curve_keys_dir` when the keys cannot
    be read (missing, incomplete, or readable by other users).
    """
    if bus.transport != "tcp" or bus.curve_keys_dir is None:
        return None
    try:
        return load_keys(bus.curve_keys_dir)
    except CurveKeyError as exc:
        raise ConfigError(KEYS_FIELD, str(exc)) from None


def absolute_keys_dir(bus: MessageBusConfig) -> str | None:
    """`curve_keys_dir` made absolute, so workers find it whatever their directory."""
    if bus.curve_keys_dir is None:
        return None
    return str(Path(bus.curve_keys_dir).absolute())


def warn_if_insecure(bus: MessageBusConfig, log: logging.Logger) -> bool:
    """Log a WARNING when the bus runs on tcp without CURVE; True if it does."""
    if bus.transport == "tcp" and bus.curve_keys_dir is None:
        log.warning(
            "message bus on tcp (%s) is UNAUTHENTICATED and unencrypted "
            "(message_bus.insecure_tcp = true): anyone who can reach its ports can "
            "read the bus and inject commands; set message_bus.curve_keys_dir",
            bus.tcp_host,
        )
        return True
    return False
