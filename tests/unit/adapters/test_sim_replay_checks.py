"""The replay readers' parse-time checks (issue 17, "bad data is contained"): every bad
line is a `ReplayError` naming file and line (``on_bad_line = "stop"``) or is handed to
``on_bad`` and skipped (``"skip"``), never another exception out of the reader."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from livenode.model.fixed_point import RAW_MAX
from livenode.venues.sim.market import RawQuote, RawTrade
from livenode.venues.sim.replay import ReplayError, ReplayRecord, read_file
from livenode.venues.sim.replay_checks import quote_ok, trade_ok
from tests.unit.adapters.sim_helpers import BTC_SPEC

SPECS = {"BTCUSDT": BTC_SPEC}  # price precision 2, size precision 5
HEADER = (b"ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size,"
          b"aggressor_side,trade_id")
T = 1704067200000000000
GOOD_BEFORE = f"{T},BTCUSDT,quote,42000.10,1.5,42000.20,0.7,,,,".encode()
GOOD_AFTER = f"{T + 2000},BTCUSDT,trade,,,,,42000.20,0.1,BUYER,T9".encode()
# One past the fixed-point range at precision 2: raw 2**63.
BEYOND = "92233720368547758.08"
TOO_LONG = csv.field_size_limit() + 1


def quote_line(bid: str = "42000.10", bid_size: str = "1.5", ask: str = "42000.20",
               ask_size: str = "0.7", ts: int = T + 1000) -> bytes:
    return f"{ts},BTCUSDT,quote,{bid},{bid_size},{ask},{ask_size},,,,".encode()


def trade_line(price: str = "42000.20", size: str = "0.1", trade_id: str = "T2",
               ts: int = T + 1000) -> bytes:
    return f"{ts},BTCUSDT,trade,,,,,{price},{size},BUYER,{trade_id}".encode()


BAD_LINES = {
    "negative bid size": (quote_line(bid_size="-1.5"), r"bid size -1\.50000 is negative"),
    "negative ask size": (quote_line(ask_size="-0.7"), r"ask size -0\.70000 is negative"),
    "negative trade size": (trade_line(size="-0.1"), r"size -0\.10000 is negative"),
    "zero trade size": (trade_line(size="0"), r"size 0\.00000 is zero"),
    "negative bid price": (quote_line(bid="-42000.10"), r"bid price -42000\.10 is not positive"),
    "zero prices": (quote_line(bid="0", ask="0"), r"bid price 0\.00 is not positive"),
    "zero ask price": (quote_line(bid="0.00", ask="0.00"), r"bid price 0\.00 is not positive"),
    "zero trade price": (trade_line(price="0.00"), r"price 0\.00 is not positive"),
    "negative trade price": (trade_line(price="-1"), r"price -1\.00 is not positive"),
    "price beyond range": (quote_line(ask=BEYOND),
                           r"ask price 92233720368547758\.08 is beyond the fixed-point range"),
    "trade price beyond range": (trade_line(price=BEYOND), r"price .* beyond the fixed-point"),
    "size beyond range": (quote_line(bid_size="99999999999999.99999"),
                          r"bid size 99999999999999\.99999 is beyond the fixed-point range"),
    "crossed quote": (quote_line(bid="42000.30"),
                      r"crossed quote: bid 42000\.30 > ask 42000\.20"),
    "time backwards": (quote_line(ts=T - 1),
                       r"time goes backwards: 2023-12-31T23:59:59\.999999999Z after "
                       r"2024-01-01T00:00:00\.000000000Z"),
    "time before the epoch": (quote_line(ts=T).replace(str(T).encode(), b"1969-12-31T23:59:59Z"),
                              r"time -1000000000 is before the epoch"),
    "time beyond int64": (quote_line(ts=2**63), r"time 9223372036854775808 ns is beyond"),
    "trade id with a space": (trade_line(trade_id="T 2"), r"trade_id 'T 2' is empty, or not"),
    "not UTF-8": (quote_line().replace(b"BTCUSDT", b"BTC\xffUSDT"),
                  r"not UTF-8: byte 0xff at character 24"),
    "not UTF-8 in an ignored place": (trade_line(trade_id="T\xe9").replace(b"\xc3\xa9", b"\xe9"),
                                      r"not UTF-8: byte 0xe9"),
    "field over the csv limit": (trade_line(trade_id="T" * TOO_LONG),
                                 r"field larger than field limit"),
}


def write(tmp_path: Path, *lines: bytes, name: str = "bad.csv") -> str:
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_stops_the_reader_naming_file_line_and_why(tmp_path: Path, case: str) -> None:
    line, why = BAD_LINES[case]
    path = write(tmp_path, HEADER, GOOD_BEFORE, line, GOOD_AFTER)
    records = read_file(path, "generic", SPECS)
    assert next(records).ts == T  # the good line before it
    with pytest.raises(ReplayError, match=rf"^{re.escape(str(tmp_path))}/bad\.csv:3: {why}") as err:
        next(records)
    assert len(str(err.value)) < 300  # a huge field is not echoed back


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_is_skipped_counted_and_the_reader_goes_on(tmp_path: Path, case: str) -> None:
    line, why = BAD_LINES[case]
    path = write(tmp_path, HEADER, GOOD_BEFORE, line, line, GOOD_AFTER)
    skipped: list[ReplayError] = []
    records = list(read_file(path, "generic", SPECS, skipped.append))
    assert [r.ts for r in records] == [T, T + 2000]
    assert [str(e).split(": ", 1)[0] for e in skipped] == [f"{path}:3", f"{path}:4"]
    assert all(re.search(why, str(e)) for e in skipped), skipped


def test_what_passes_the_checks(tmp_path: Path) -> None:
    # A locked quote (bid == ask), zero quote sizes, equal times, the largest raw value.
    top = "92233720368547758.07"  # raw 2**63 - 1 at precision 2
    path = write(
        tmp_path, HEADER, GOOD_BEFORE,
        quote_line(bid="42000.20", ask="42000.20", bid_size="0", ask_size="0", ts=T),
        quote_line(bid="1", ask=top, ts=T),
        trade_line(price=top, size="0.00001", trade_id="T-\u00e9", ts=T),
    )
    records = list(read_file(path, "generic", SPECS))
    assert records[1] == ReplayRecord(T, "BTCUSDT", RawQuote(4200020, 4200020, 0, 0, T))
    assert records[2].data == RawQuote(100, RAW_MAX, 150000, 70000, T)
    assert records[3].data == RawTrade(RAW_MAX, 1, "BUYER", "T-\u00e9", T)


def test_time_is_checked_per_file_and_rows_of_other_symbols_do_not_count(tmp_path: Path) -> None:
    path = write(
        tmp_path, HEADER, GOOD_BEFORE,
        f"{T - 5},DOGEUSDT,quote,0.1,1,0.2,1,,,,".encode(),  # not configured: skipped
        quote_line(ts=T),
    )
    assert len(list(read_file(path, "generic", SPECS))) == 2


def test_binance_bookticker_lines_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"1,42283.50,5.123,42283.60,1.004,1704067200003,1704067200007",
        b"2,42283.70,5.020,42283.60,1.104,1704067200013,1704067200017",  # crossed
        b"3,42283.50,5.020,42283.60,1.104,1704067200001,1704067200017",  # backwards
        b"4,42283.50,-5.020,42283.60,1.104,1704067200020,1704067200021",  # negative size
        b"5,42283.50,5.020,42283.60,1.104,1704067200030,1704067200031",
        name="BTCUSDT-bookTicker-2024-01-01.csv",
    )
    skipped: list[ReplayError] = []
    records = list(read_file(path, "auto", SPECS, skipped.append))
    assert [r.ts for r in records] == [1704067200003000000, 1704067200030000000]
    messages = [str(e).split(".csv:", 1)[1] for e in skipped]
    assert messages[0].startswith("2: crossed quote: bid 42283.70 > ask 42283.60")
    assert messages[1].startswith("3: time goes backwards: ")
    assert messages[2] == "4: bid size -5.02000 is negative"


def test_binance_trades_lines_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"1,42283.60,0.012,507.4,1704067200005,False,True",
        b"2,42283.50,0.000,0,1704067200014,True,True",  # zero size
        b",42283.50,0.5,0,1704067200015,True,True",  # no id: one is made up
        b"4,42283.50,0.5,0,1704067200016,True,True",
        name="BTCUSDT-trades-2024-01-01.csv",
    )
    skipped: list[ReplayError] = []
    records = list(read_file(path, "auto", SPECS, skipped.append))
    assert [str(e).split(".csv:", 1)[1] for e in skipped] == ["2: size 0.00000 is zero"]
    assert [r.data.trade_id for r in records if isinstance(r.data, RawTrade)] == [
        "1", "BTCUSDT-R3", "4"]


def test_a_binance_line_that_is_not_utf8_is_a_bad_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"1,42283.60,0.012,507.4,1704067200005,False,True",
        b"2\xfe,42283.50,0.5,0,1704067200014,True,True",
        name="BTCUSDT-trades-2024-01-01.csv",
    )
    with pytest.raises(ReplayError, match=r"BTCUSDT-trades-2024-01-01\.csv:2: not UTF-8: "
                                          r"byte 0xfe at character 2"):
        list(read_file(path, "auto", SPECS))


def test_quote_ok_and_trade_ok_are_the_inlined_rules() -> None:
    assert quote_ok(1, 1, 0, 0) and quote_ok(1, RAW_MAX, RAW_MAX, 0)
    assert not quote_ok(0, 1, 0, 0) and not quote_ok(2, 1, 0, 0)
    assert not quote_ok(1, RAW_MAX + 1, 0, 0) and not quote_ok(1, 2, -1, 0)
    assert not quote_ok(1, 2, 0, RAW_MAX + 1)
    assert trade_ok(1, 1, "T1") and not trade_ok(1, 0, "T1") and not trade_ok(0, 1, "T1")
    assert not trade_ok(1, 1, "") and not trade_ok(1, 1, "a b") and not trade_ok(1, 1, "a\x00")
