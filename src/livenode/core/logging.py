"""Logging setup for a livenode process.

Loggers are `logging.getLogger("livenode.<area>")`. `setup_logging` puts one
handler on the `livenode` logger (not on the root logger, so third-party
libraries keep their own configuration) and may be called again to change the
level or the stream: it replaces its own handler instead of adding a second.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

__all__ = ["LOG_FORMAT", "ROOT_LOGGER_NAME", "setup_logging"]

ROOT_LOGGER_NAME = "livenode"
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
# Marks the handler this module installed, so a second call can find and replace it.
_HANDLER_MARK = "_livenode_handler"
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def _parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    name = _ALIASES.get(level.strip().upper(), level.strip().upper())
    value = logging.getLevelName(name)
    if not isinstance(value, int):
        raise ValueError(
            f"logging level: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {level!r}"
        )
    return value


def setup_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Logger:
    """Configure the `livenode` logger with one handler; idempotent.

    Args:
        level: a level name (case-insensitive, e.g. "info", "WARN") or number.
        stream: where to write; `sys.stderr` (looked up at call time) when None.

    Returns:
        The configured `livenode` logger.

    Raises:
        ValueError: an unknown level name.
    """
    numeric = _parse_level(level)
    logger = logging.getLogger(ROOT_LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter = logging.Formatter(LOG_FORMAT, datefmt=_DATE_FORMAT)
    # UTC timestamps: a node's logs are compared with venue timestamps, which are UTC.
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    logger.addHandler(handler)
    logger.setLevel(numeric)
    return logger
