"""uuid, logging and errors."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from pathlib import Path

import pytest

from livenode.core.errors import (
    DuplicateCacheEntryError,
    DuplicateEndpointError,
    EndpointNotFoundError,
    InvalidComponentTransition,
    LivenodeError,
    TimerError,
)
from livenode.core.logging import flush_logging, setup_logging, shutdown_logging
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
    shutdown_logging()
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
    flush_logging()
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
    flush_logging()
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_setup_logging_defaults_to_stderr(
    livenode_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("INFO")
    logging.getLogger("livenode.y").info("to stderr")
    flush_logging()
    assert "to stderr" in capsys.readouterr().err


def test_setup_logging_rejects_unknown_level(livenode_logger: logging.Logger) -> None:
    with pytest.raises(ValueError, match="LOUD"):
        setup_logging("LOUD")


def test_logging_never_blocks_the_caller_on_a_slow_stream(
    livenode_logger: logging.Logger,
) -> None:
    """A queue handler and a listener thread: a stuck stream does not stall the logger."""
    gate = threading.Event()

    class StuckStream(io.StringIO):
        def write(self, text: str) -> int:
            assert gate.wait(10), "the test never opened the gate"
            return super().write(text)

    stream = StuckStream()
    setup_logging("INFO", stream=stream)
    logging.getLogger("livenode.hot").info("first")
    logging.getLogger("livenode.hot").info("second")  # returns although "first" is stuck
    assert stream.getvalue() == ""
    gate.set()
    flush_logging()
    assert "first" in stream.getvalue() and "second" in stream.getvalue()


def test_logging_file_rotates_by_size_and_count(
    livenode_logger: logging.Logger, tmp_path: Path
) -> None:
    log_file = tmp_path / "node.log"
    setup_logging("INFO", stream=io.StringIO(), file=str(log_file), file_max_bytes=400,
                  file_backups=2)
    for i in range(60):
        logging.getLogger("livenode.rot").info("line %03d %s", i, "x" * 20)
    flush_logging()
    shutdown_logging()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["node.log", "node.log.1", "node.log.2"], names
    assert all(p.stat().st_size <= 400 for p in tmp_path.iterdir())
    assert "line 059" in log_file.read_text()


def test_logging_json_lines_process_name_and_component_levels(
    livenode_logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, process_name="trader-1", json_lines=True,
                  levels={"adapters.sim": "DEBUG", "livenode.bus": "ERROR"})
    logging.getLogger("livenode.adapters.sim.feed").debug("sim detail %d", 1)
    logging.getLogger("livenode.bus.bridge").warning("bus warning hidden")
    logging.getLogger("livenode.node").debug("node debug hidden")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("livenode.node").exception("it failed")
    flush_logging()
    rows = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["message"] for r in rows] == ["sim detail 1", "it failed"]
    assert rows[0]["level"] == "DEBUG" and rows[0]["logger"] == "livenode.adapters.sim.feed"
    assert all(r["process"] == "trader-1" for r in rows)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0]["ts"])
    assert "RuntimeError: boom" in rows[1]["exc"]
    # A new setup forgets the previous per-component levels.
    setup_logging("INFO", stream=stream)
    assert logging.getLogger("livenode.adapters.sim").level == logging.NOTSET


def test_text_lines_name_the_process(livenode_logger: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, process_name="data-1")
    logging.getLogger("livenode.node").info("node X RUNNING")
    flush_logging()
    assert re.search(r"Z INFO    \[data-1\] livenode\.node: node X RUNNING\n$",
                     stream.getvalue())


def test_with_a_file_the_console_shows_only_console_level_and_up(
    livenode_logger: logging.Logger, tmp_path: Path
) -> None:
    """The screen and the file (issue 18): fills at INFO go to the file only; a warning
    goes to both. The file's directory is created."""
    stream = io.StringIO()
    log_file = tmp_path / "data" / "logs" / "T-1.log"
    setup_logging("INFO", stream=stream, file=str(log_file), console_level="WARNING")
    logging.getLogger("livenode.orders").info("fill O-1 BUY 1 @ 100")
    logging.getLogger("livenode.node").warning("venue slow")
    flush_logging()
    shutdown_logging()
    assert "venue slow" in stream.getvalue() and "fill O-1" not in stream.getvalue()
    text = log_file.read_text()
    assert "fill O-1" in text and "venue slow" in text


def test_without_a_file_the_console_shows_everything(livenode_logger: logging.Logger) -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, console_level="WARNING")  # nothing else would keep it
    logging.getLogger("livenode.orders").info("fill O-1")
    flush_logging()
    assert "fill O-1" in stream.getvalue()


def test_a_child_process_logs_to_its_own_file_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from livenode.core.logging import child_logging_env, file_for, logging_from_env

    assert child_logging_env(None, "WARNING") == {}  # no file: the child keeps stderr
    for key, value in child_logging_env("data/logs/N-1.log", "WARNING").items():
        monkeypatch.setenv(key, value)
    assert logging_from_env("trader") == {"file": "data/logs/N-1-trader.log",
                                          "console_level": "WARNING"}
    assert file_for("node", "data-1") == "node-data-1"
    assert file_for("logs.d/node", "x") == "logs.d/node-x"
    assert file_for("node.log", None) == "node.log"


def test_latency_histogram_percentiles_merge_and_round_trip() -> None:
    from livenode.core.latency import HIGHEST_NS, LatencyHistogram

    h = LatencyHistogram()
    assert h.summary() == {"count": 0}
    for ns in range(1_000, 101_000, 1_000):  # 1 .. 100 us
        h.record(ns)
    s = h.summary()
    assert s["count"] == 100
    # 3 significant digits: within 0.1 % of the exact nearest rank
    assert abs(s["p50"] - 50_000) <= 50 and abs(s["p99"] - 99_000) <= 99
    assert abs(s["max"] - 100_000) <= 100
    other = LatencyHistogram()
    other.record(-5)  # clocks of two processes may disagree a little: never negative
    other.record(HIGHEST_NS * 10)
    other_summary = other.summary()
    assert other_summary["count"] == 2 and other_summary["p50"] == 1
    assert abs(other_summary["max"] - HIGHEST_NS) <= HIGHEST_NS // 1000
    h.merge(LatencyHistogram.decode(other.encode()))
    assert h.summary()["count"] == 102
