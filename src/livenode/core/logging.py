"""Logging setup for a livenode process.

Loggers are `logging.getLogger("livenode.<area>")`. `setup_logging` puts one
handler on the `livenode` logger (not on the root logger, so third-party
libraries keep their own configuration) and may be called again to change the
configuration: it replaces its own handler instead of adding a second.

That handler is a `QueueHandler`: the thread that logs (the event loop, the hot
path) only puts the record on an unbounded queue; a `QueueListener` thread
formats it and writes it to the stream and, when configured, to a rotating file
(``RotatingFileHandler``: ``file_max_bytes`` per file, ``file_backups`` old
files kept). A slow terminal or disk never blocks the loop. The listener is
stopped (everything queued written) at interpreter exit, by `shutdown_logging`,
or when `setup_logging` is called again; `flush_logging` waits until everything
logged so far is written.

Formats: text (``2026-01-02T03:04:05.678Z INFO    livenode.node: message``, with
``[worker]`` after the level in a multiprocess worker) or JSON lines (``{"ts",
"level", "logger", "process", "message"}`` plus ``"exc"`` with a traceback).
Per-component levels set the level of ``livenode.<component>`` loggers
(``{"adapters.sim" = "DEBUG", "livenode.bus" = "WARNING"}``).

Screen and file: with a ``file``, the console (``stream``) shows only records of
``console_level`` and above, the file everything the logger passes (``level``): a
node's screen stays readable while every fill and order event is in the file.
Without a file the console shows everything (nothing would be kept otherwise).
A child process (a worker, a service) started with `child_logging_env` in its
environment logs the same way from its first line (`logging_from_env`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "CONSOLE_LEVEL_ENV",
    "LOG_FILE_ENV",
    "LOG_FORMAT",
    "ROOT_LOGGER_NAME",
    "child_logging_env",
    "file_for",
    "flush_logging",
    "logging_from_env",
    "setup_logging",
    "shutdown_logging",
]

ROOT_LOGGER_NAME = "livenode"
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s: %(message)s"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
# Marks the handler this module installed, so a second call can find and replace it.
_HANDLER_MARK = "_livenode_handler"
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
#: A child process's log file (its own name inserted before the suffix: `file_for`)
#: and what its console shows, handed down by the process that starts it.
LOG_FILE_ENV = "LIVENODE_LOG_FILE"
CONSOLE_LEVEL_ENV = "LIVENODE_LOG_CONSOLE_LEVEL"

_lock = threading.Lock()
_listener: logging.handlers.QueueListener | None = None
_queue: queue.Queue[Any] | None = None
_component_loggers: list[str] = []  # loggers whose level the last setup set


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


def _component_logger_name(component: str) -> str:
    component = component.strip()
    if component == ROOT_LOGGER_NAME or component.startswith(ROOT_LOGGER_NAME + "."):
        return component
    return f"{ROOT_LOGGER_NAME}.{component}"


class _TextFormatter(logging.Formatter):
    def __init__(self, process_name: str | None) -> None:
        fmt = LOG_FORMAT
        if process_name:
            # "%%" keeps a literal percent sign in a worker's name out of the format.
            safe = process_name.replace("%", "%%")
            fmt = fmt.replace("%(name)s:", f"[{safe}] %(name)s:")
        super().__init__(fmt, datefmt=_DATE_FORMAT)
        # UTC timestamps: a node's logs are compared with venue timestamps, which are UTC.
        self.converter = time.gmtime


class _JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, process_name: str | None) -> None:
        super().__init__()
        self._process = process_name

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime(_DATE_FORMAT, time.gmtime(record.created))
        data: dict[str, Any] = {
            "ts": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "process": self._process,
            "message": record.getMessage(),
        }
        exc = getattr(record, "livenode_exc", None)
        if exc:
            data["exc"] = exc
        return json.dumps(data, ensure_ascii=False)


class _QueueHandler(logging.handlers.QueueHandler):
    """Puts records on the queue with their message and traceback as plain text.

    Unlike the stdlib's `prepare`, the traceback is kept apart from the message
    (``livenode_exc``), so the JSON format can put it in a field of its own.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        message = record.getMessage()
        exc_text = None
        if record.exc_info:
            exc_text = logging.Formatter().formatException(record.exc_info)
        elif record.exc_text:
            exc_text = record.exc_text
        if record.stack_info:
            exc_text = (exc_text + "\n" if exc_text else "") + record.stack_info
        prepared = logging.makeLogRecord(record.__dict__)
        prepared.msg = message
        prepared.args = None
        prepared.exc_info = None
        prepared.exc_text = None
        prepared.stack_info = None
        setattr(prepared, "livenode_exc", exc_text)  # noqa: B010 - not a LogRecord field
        return prepared


class _ExcTextFormatter(logging.Formatter):
    """Text format that appends the prepared traceback text."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        exc = getattr(record, "livenode_exc", None)
        return f"{text}\n{exc}" if exc else text


def setup_logging(
    level: str | int = "INFO",
    stream: TextIO | None = None,
    *,
    process_name: str | None = None,
    file: str | None = None,
    file_max_bytes: int = 50_000_000,
    file_backups: int = 5,
    json_lines: bool = False,
    levels: Mapping[str, str | int] | None = None,
    console_level: str | int | None = None,
) -> logging.Logger:
    """Configure the `livenode` logger with one (queue) handler; idempotent.

    Args:
        level: a level name (case-insensitive, e.g. "info", "WARN") or number.
        stream: where to write; `sys.stderr` (looked up at call time) when None.
        process_name: shown in every line (a multiprocess worker's name).
        file: also write to this file, rotated at ``file_max_bytes`` with
            ``file_backups`` old files kept (``file.1`` ...); its directory is
            created when missing (mode 0700).
        json_lines: write JSON objects, one a line, instead of text.
        levels: per component (``"adapters.sim"`` or ``"livenode.adapters.sim"``).
        console_level: with a `file`, the least level the stream shows (the file
            has everything); None, or without a file: the stream shows everything.

    Returns:
        The configured `livenode` logger.

    Raises:
        ValueError: an unknown level name.
        OSError: the file (or its directory) cannot be created or opened.
    """
    global _listener, _queue
    numeric = _parse_level(level)
    component_levels = {
        _component_logger_name(name): _parse_level(value) for name, value in (levels or {}).items()
    }
    inner: logging.Formatter = (
        _JsonFormatter(process_name) if json_lines else _TextFormatter(process_name)
    )
    formatter = inner if json_lines else _ExcTextFormatter(inner)
    console = logging.StreamHandler(stream if stream is not None else sys.stderr)
    targets: list[logging.Handler] = [console]
    if file is not None:
        if console_level is not None:
            console.setLevel(_parse_level(console_level))
        # Like the data directory's database: orders and fills are for this user only.
        Path(file).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        targets.append(
            logging.handlers.RotatingFileHandler(
                file, maxBytes=file_max_bytes, backupCount=file_backups, encoding="utf-8"
            )
        )
    for target in targets:
        target.setFormatter(formatter)
    with _lock:
        _stop_listener()
        logger = logging.getLogger(ROOT_LOGGER_NAME)
        for handler in list(logger.handlers):
            if getattr(handler, _HANDLER_MARK, False):
                logger.removeHandler(handler)
                handler.close()
        for name in _component_loggers:
            logging.getLogger(name).setLevel(logging.NOTSET)
        _component_loggers.clear()
        records: queue.Queue[Any] = queue.Queue()
        # Each target filters by its own level (the console's `console_level`).
        listener = logging.handlers.QueueListener(records, *targets,
                                                  respect_handler_level=True)
        listener.start()
        _listener, _queue = listener, records
        handler = _QueueHandler(records)
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
        logger.setLevel(numeric)
        for name, value in component_levels.items():
            logging.getLogger(name).setLevel(value)
            _component_loggers.append(name)
    return logger


def child_logging_env(file: str | None, console_level: str | None) -> dict[str, str]:
    """The environment that makes a child process log like this one (`logging_from_env`):
    to `file` (with the child's name inserted) and `console_level` on its console."""
    env: dict[str, str] = {}
    if file is not None:
        env[LOG_FILE_ENV] = file
        if console_level is not None:
            env[CONSOLE_LEVEL_ENV] = console_level
    return env


def logging_from_env(process_name: str | None) -> dict[str, Any]:
    """`setup_logging` keyword arguments from `child_logging_env` in this process's
    environment (empty without it): ``file`` named for `process_name`, ``console_level``."""
    file = os.environ.get(LOG_FILE_ENV) or None
    if file is None:
        return {}
    return {"file": file_for(file, process_name),
            "console_level": os.environ.get(CONSOLE_LEVEL_ENV) or None}


def file_for(file: str, process_name: str | None) -> str:
    """The log file of one process of a node: `file`, or with ``-{process_name}``
    inserted before the suffix (``node.log`` -> ``node-trader.log``)."""
    if not process_name:
        return file
    head, dot, suffix = file.rpartition(".")
    if not dot or "/" in suffix:
        return f"{file}-{process_name}"
    return f"{head}-{process_name}.{suffix}"


def flush_logging() -> None:
    """Wait until every record logged so far has been written."""
    records = _queue
    if records is not None and _listener is not None:
        records.join()


def _stop_listener() -> None:
    global _listener, _queue
    listener = _listener
    _listener, _queue = None, None
    if listener is not None:
        listener.stop()  # writes what is queued, then ends the thread
        for handler in listener.handlers:
            # The stream may be closed already (interpreter exit, a test's capture).
            with contextlib.suppress(ValueError, OSError):
                handler.flush()
            if isinstance(handler, logging.FileHandler):
                handler.close()


def shutdown_logging() -> None:
    """Write what is queued and stop the listener thread (records are then dropped
    until `setup_logging` is called again); idempotent. Runs at interpreter exit."""
    with _lock:
        logger = logging.getLogger(ROOT_LOGGER_NAME)
        for handler in list(logger.handlers):
            if getattr(handler, _HANDLER_MARK, False):
                logger.removeHandler(handler)
                handler.close()
        _stop_listener()


atexit.register(shutdown_logging)
