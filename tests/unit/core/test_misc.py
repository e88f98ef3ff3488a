"""uuid, logging and errors."""

from __future__ import annotations

import io
import logging
import re

import pytest

from livenode.core.errors import (
    DuplicateCacheEntryError,
    DuplicateEndpointError,
    EndpointNotFoundError,
    InvalidComponentTransition,
    LivenodeError,
    TimerError,
)
from livenode.core.logging import setup_logging
from livenode.core.uuid import new_id


def test_new_id_is_32_hex_and_unique() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_error_hierarchy() -> None:
    for cls in (TimerError, DuplicateEndpointError, DuplicateCacheEntryError):
        assert issubclass(cls, LivenodeError) and issubclass(cls, ValueError)
    assert issubclass(EndpointNotFoundError, LookupError)
    err = InvalidComponentTransition("DataEngine", "RUNNING", "start")
    assert isinstance(err, LivenodeError)
    assert "DataEngine" in str(err) and "RUNNING" in str(err) and "start" in str(err)
    assert (err.component_id, err.state, err.trigger) == ("DataEngine", "RUNNING", "start")


@pytest.fixture
def livenode_logger():
    logger = logging.getLogger("livenode")
    saved = (list(logger.handlers), logger.level)
    yield logger
    for h in list(logger.handlers):
        logger.removeHandler(h)
    for h in saved[0]:
        logger.addHandler(h)
    logger.setLevel(saved[1])


def _ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if getattr(h, "_livenode_handler", False)]


def test_setup_logging_format_and_level(livenode_logger: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("warning", stream=stream)
    logging.getLogger("livenode.test").info("hidden")
    logging.getLogger("livenode.test").warning("shown %d", 42)
    out = stream.getvalue()
    assert "hidden" not in out
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING livenode\.test: shown 42\n$", out
    ), out


def test_setup_logging_is_idempotent(livenode_logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("INFO", stream=first)
    setup_logging("DEBUG", stream=second)
    assert len(_ours(livenode_logger)) == 1
    logging.getLogger("livenode.x").debug("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_setup_logging_defaults_to_stderr(
    livenode_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("INFO")
    logging.getLogger("livenode.y").info("to stderr")
    assert "to stderr" in capsys.readouterr().err


def test_setup_logging_rejects_unknown_level(livenode_logger: logging.Logger) -> None:
    with pytest.raises(ValueError, match="LOUD"):
        setup_logging("LOUD")
