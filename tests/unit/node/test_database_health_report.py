"""How the cache database's measured health reaches the operator (no sockets): the
status line's ``db=`` word for each writer state, the summary's line about a loss
and its rewrite, the errors that make such a run exit 1, and the Prometheus
families (`NodeCollector` called directly)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from livenode.cli.summary import database_fragment, database_lines
from livenode.node.durable_summary import database_errors
from livenode.node.metrics import MetricsSnapshot, NodeCollector
from livenode.node.run_report import DatabaseReport, RunReport


def _db(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        backend="redis://127.0.0.1:6379/0", healthy=True, state="ok", pending=0, written=10,
        batches=2, failures=0, lag_seconds=0.0, last_error=None, fault=None, trading="ACTIVE",
        losses=0, last_loss=None, rewrites=0, rewritten=0, superseded=0, discarded=0)
    base.update(fields)
    return base


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, "db=ok"),
    ({"pending": 3}, "db=ok pending=3"),
    ({"state": "down", "healthy": False, "fault": "Timeout reading", "trading": "HALTED",
      "pending": 5474, "lag_seconds": 6.04}, "db=DOWN(HALTED) pending=5474 lag=6.0s"),
    ({"state": "down", "healthy": False, "fault": "x", "trading": "REDUCING"},
     "db=DOWN(REDUCING) pending=0 lag=0.0s"),
    ({"state": "lost", "healthy": False, "fault": "x", "trading": "HALTED", "pending": 7},
     "db=LOST(HALTED) pending=7 lag=0.0s"),
    ({"state": "rewriting", "healthy": False, "fault": "x", "trading": "HALTED",
      "pending": 900}, "db=REWRITING(HALTED) pending=900 lag=0.0s"),
    ({"state": "halted", "healthy": False, "fault": "x", "trading": "HALTED"},
     "db=LOST(HALTED) pending=0 lag=0.0s"),
])
def test_the_status_word_says_what_the_writer_measured(
    fields: dict[str, Any], expected: str
) -> None:
    assert database_fragment(_db(**fields)) == expected


def test_a_rewritten_loss_is_told_in_the_summary_and_is_no_error() -> None:
    summary: dict[str, Any] = {"database": _db(losses=1, last_loss="run marker gone",
                                               rewrites=1, rewritten=1203)}
    assert database_lines(summary) == [
        "database       lost this node's state 1 time(s) (run marker gone); rewritten from "
        "memory 1 time(s) (1203 write(s))"]
    assert database_errors(summary) == [] and summary["errors"] == []
    assert database_lines({"database": _db()}) == []


def test_a_loss_not_rewritten_or_writes_left_behind_fail_the_run() -> None:
    halted: dict[str, Any] = {"database": _db(
        state="halted", losses=1, last_loss="gone", discarded=12,
        last_error="lost this process's state (gone) and it is not rewritten: purged")}
    [error] = database_errors(halted)
    assert error.startswith("the cache database lost this node's state and it was not "
                            "rewritten: lost this process's state (gone)")
    assert halted["errors"] == [error]
    assert "NOT rewritten: 12 write(s) dropped" in database_lines(halted)[0]
    behind: dict[str, Any] = {"database": _db(state="down", pending=40,
                                              last_error="Timeout"), "errors": ["other"]}
    [error] = database_errors(behind)
    assert error == ("the cache database was down at the stop: 40 write(s) of this run not "
                     "written (Timeout)")
    assert behind["errors"] == ["other", error]
    assert database_errors({"database": None}) == []


def _samples(report: RunReport) -> dict[str, float]:
    collector = NodeCollector(lambda: MetricsSnapshot(report=report))
    return {s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items())): s.value
            for family in collector.collect() for s in family.samples}


def test_the_metrics_export_the_databases_health() -> None:
    report = RunReport(database=msgspec.convert(
        _db(state="down", healthy=False, pending=12, lag_seconds=3.5, failures=4, losses=1,
            rewrites=1, written=99, trading="HALTED", fault="Timeout"), DatabaseReport))
    samples = _samples(report)
    assert samples["livenode_database_up"] == 0
    assert samples["livenode_database_state{state=down}"] == 1
    assert samples["livenode_database_state{state=ok}"] == 0
    assert samples["livenode_database_pending_writes"] == 12
    assert samples["livenode_database_lag_seconds"] == 3.5
    assert samples["livenode_database_write_failures_total"] == 4
    assert samples["livenode_database_losses_total"] == 1
    assert samples["livenode_database_rewrites_total"] == 1
    assert samples["livenode_database_writes_total"] == 99
    assert not any(k.startswith("livenode_database") for k in _samples(RunReport()))
