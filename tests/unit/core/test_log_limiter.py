"""`LogLimiter`: the first lines of a kind in full, then one line per interval with
the count held back; kinds are limited apart."""

from __future__ import annotations

import logging

import pytest

from livenode.core.log_limiter import LogLimiter


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_after_the_first_lines_one_summary_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = FakeTime()
    limiter = LogLimiter(logging.getLogger("livenode.test.limiter"), first=10, interval=60.0,
                         now=now)
    caplog.set_level(logging.INFO, logger="livenode.test.limiter")
    written = [limiter.log(logging.ERROR, "frame", "dropped frame #%d", n) for n in range(1000)]
    assert sum(written) == 10
    assert "from now on at most one line per 60s" in caplog.records[9].getMessage()
    now.t += 59.0
    assert not limiter.log(logging.ERROR, "frame", "dropped frame #%d", 1000)
    now.t += 1.0
    assert limiter.log(logging.ERROR, "frame", "dropped frame #%d", 1001)
    assert caplog.records[-1].getMessage() == (
        "dropped frame #1001 (and 991 more like it held back over 60s)")
    # Another kind has a budget of its own.
    assert limiter.log(logging.WARNING, "denied", "denied %s", "O-1")
    assert limiter.seen("frame") == 1002 and limiter.seen("denied") == 1
    assert len(caplog.records) == 12
