"""`livenode.adapters.fix.parsing`: TransactTime, ClOrdIDs and a rejected message's fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from livenode.adapters.fix.parsing import base_cl_ord_id, peek_fields, transact_time_ns


def _ns(text: str) -> int:
    dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000


@pytest.mark.parametrize(("value", "extra_ns"), [
    ("20240131-12:34:56", 0),
    ("20240131-12:34:56.789", 789_000_000),
    ("20240131-12:34:56.789123", 789_123_000),
    ("20240131-12:34:56.789123456", 789_123_456),
])
def test_transact_time_to_ns_at_every_precision(value: str, extra_ns: int) -> None:
    assert transact_time_ns(value) == _ns("2024-01-31 12:34:56") + extra_ns


@pytest.mark.parametrize("value", [
    None, "", "2024-01-31 12:34:56", "20240131-12:34", "20240131-12:34:56.78",
    "20240231-12:34:56", "20240131-25:00:00", "garbage",
])
def test_a_missing_or_malformed_transact_time_is_none(value: str | None) -> None:
    assert transact_time_ns(value) is None


def test_base_cl_ord_id_strips_cancel_and_replace_suffixes() -> None:
    assert base_cl_ord_id("O-1:C12") == "O-1"
    assert base_cl_ord_id("O-1:R3") == "O-1"
    assert base_cl_ord_id("O-1") == "O-1"
    assert base_cl_ord_id("A:B") == "A:B"


def test_peek_fields_reads_what_it_can_of_an_invalid_message() -> None:
    raw = b"8=FIX.4.4\x019=99\x0135=8\x0155=\x0154=\x01584=MS-1\x01junk\x01911=0\x0110=000\x01"
    fields = peek_fields(raw)
    assert fields[35] == "8" and fields[584] == "MS-1" and fields[55] == ""
    assert fields[911] == "0"
