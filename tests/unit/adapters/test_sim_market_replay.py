"""Synthetic market (seeded random walk) and replay of recorded CSV files."""

from __future__ import annotations

import dataclasses

import pytest

from livenode.venues.sim.market import BUYER, SELLER, RandomWalk, RawQuote, RawTrade
from livenode.venues.sim.replay import (
    ReplayError,
    detect_format,
    merge_files,
    parse_raw,
    parse_ts,
    read_file,
)
from tests.unit.adapters.sim_helpers import BTC_SPEC, DATA, ETH_SPEC


def walk(seed: int = 7, spec=BTC_SPEC, **kw: object) -> RandomWalk:
    args = {"start_price": "50000", "volatility": 0.0005, "spread_ticks": 1,
            "mean_size": "0.5", "trade_probability": 0.3, **kw}
    return RandomWalk(spec, seed, **args)  # type: ignore[arg-type]


def run(w: RandomWalk, n: int) -> list[tuple[RawQuote, RawTrade | None]]:
    return [w.step(ts) for ts in range(n)]


# -- random walk --------------------------------------------------------------------------


def test_same_seed_same_path_different_seed_different_path():
    assert run(walk(7), 500) == run(walk(7), 500)
    assert run(walk(7), 500) != run(walk(8), 500)


def test_path_depends_on_symbol_not_on_other_instruments():
    other = dataclasses.replace(BTC_SPEC, symbol="XBT")
    assert [q for q, _ in run(walk(7), 50)] != [q for q, _ in run(walk(7, other), 50)]


def test_quotes_are_realistic():
    spec = BTC_SPEC
    quotes = run(walk(3), 5000)
    spreads = []
    for q, t in quotes:
        assert q.ask > q.bid > 0
        assert q.bid % spec.price_increment == 0 and q.ask % spec.price_increment == 0
        assert q.bid_size > 0 and q.ask_size > 0
        assert q.bid_size % spec.size_increment == 0
        spreads.append(q.ask - q.bid)
        if t is not None:
            assert (t.price, t.aggressor) in ((q.ask, BUYER), (q.bid, SELLER))
            assert 0 < t.size <= (q.ask_size if t.aggressor == BUYER else q.bid_size)
    assert min(spreads) == 1 and max(spreads) <= 3  # 1 tick plus 0..2 extra
    assert sum(s == 1 for s in spreads) > len(spreads) / 2  # usually the tightest
    mids = [(q.bid + q.ask) / 2 / 100 for q, _ in quotes]
    # volatility 5 bps per step over 5000 steps: moves, but stays near the start
    assert max(mids) != min(mids)
    assert 40_000 < mids[-1] < 60_000
    trades = sum(t is not None for _, t in quotes)
    assert 0.25 * 5000 < trades < 0.35 * 5000
    sizes = [q.bid_size for q, _ in quotes]
    assert 0.4 < sum(sizes) / len(sizes) / 10**spec.size_precision < 0.6  # mean_size 0.5


def test_trade_ids_unique():
    ids = [t.trade_id for _, t in run(walk(1), 2000) if t is not None]
    assert len(ids) == len(set(ids))


# -- parsing helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,prec,raw",
    [("42000.10", 2, 4200010), ("42000.10000000", 2, 4200010), ("1", 3, 1000),
     ("0.125", 2, 13), ("0.124", 2, 12), (".5", 1, 5), ("-1.5", 1, -15)],
)
def test_parse_raw(text, prec, raw):
    assert parse_raw(text, prec) == raw


@pytest.mark.parametrize("bad", ["", "abc", "1.2.3", "1e5", "."])
def test_parse_raw_rejects(bad):
    with pytest.raises(ValueError):
        parse_raw(bad, 2)


def test_parse_ts():
    assert parse_ts("1704067200000000000") == 1704067200000000000
    assert parse_ts("2024-01-01T00:00:00.040Z") == 1704067200040000000
    assert parse_ts("2024-01-01T00:00:00.000000123") == 1704067200000000123
    assert parse_ts("2024-01-01T01:00:00+01:00") == 1704067200000000000


def test_detect_format():
    assert detect_format("x/BTCUSDT-bookTicker-2024-01-01.csv", "auto") == "binance_bookticker"
    assert detect_format("BTCUSDT-trades-2024-01-01.csv", "auto") == "binance_trades"
    assert detect_format("ticks.csv", "auto") == "generic"
    assert detect_format("BTCUSDT-trades-2024-01-01.csv", "generic") == "generic"


# -- generic ------------------------------------------------------------------------------


def test_generic_file():
    specs = {"BTCUSDT": BTC_SPEC, "ETHUSDT-PERP": ETH_SPEC}
    recs = list(read_file(str(DATA / "generic_quotes_trades.csv"), "generic", specs))
    # DOGEUSDT (not configured) skipped; comment and blank lines skipped
    assert [r.symbol for r in recs] == ["BTCUSDT", "ETHUSDT-PERP", "BTCUSDT", "BTCUSDT",
                                        "ETHUSDT-PERP", "BTCUSDT"]
    q = recs[0].data
    assert q == RawQuote(4200010, 4200020, 150000, 70000, 1704067200000000000)
    t = recs[2].data
    assert t == RawTrade(4200020, 10000, BUYER, "T1", 1704067200020000000)
    assert recs[3].ts == 1704067200040000000  # ISO 8601 row
    eth_trade = recs[4].data
    assert eth_trade.aggressor == SELLER and eth_trade.size == 500 and eth_trade.trade_id
    assert recs[5].data.aggressor == "NO_AGGRESSOR"


def test_generic_malformed_line_names_file_and_line():
    path = str(DATA / "generic_malformed.csv")
    with pytest.raises(ReplayError, match=r"generic_malformed\.csv:3: .*'abc'"):
        list(read_file(path, "generic", {"BTCUSDT": BTC_SPEC}))


def test_generic_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("ts,symbol,type\n")
    with pytest.raises(ReplayError, match=r"bad\.csv:1: header lacks column\(s\) ts_event"):
        list(read_file(str(p), "generic", {"BTCUSDT": BTC_SPEC}))
    p.write_text("ts_event,symbol,type,price,size\n1,BTCUSDT,bar,1,1\n")
    with pytest.raises(ReplayError, match=r"bad\.csv:2: type 'bar' is not"):
        list(read_file(str(p), "generic", {"BTCUSDT": BTC_SPEC}))
    p.write_text("ts_event,symbol,type,price,size\n1,BTCUSDT,trade,1\n")
    with pytest.raises(ReplayError, match=r"bad\.csv:2: expected 5 fields, got 4"):
        list(read_file(str(p), "generic", {"BTCUSDT": BTC_SPEC}))
    p.write_text("")
    with pytest.raises(ReplayError, match="empty replay file"):
        list(read_file(str(p), "generic", {"BTCUSDT": BTC_SPEC}))
    with pytest.raises(ReplayError, match="cannot open replay file"):
        list(read_file(str(tmp_path / "missing.csv"), "generic", {"BTCUSDT": BTC_SPEC}))


# -- Binance ------------------------------------------------------------------------------


def test_binance_bookticker():
    path = str(DATA / "BTCUSDT-bookTicker-2024-01-01.csv")
    recs = list(read_file(path, "auto", {"BTCUSDT": BTC_SPEC, "ETHUSDT": ETH_SPEC}))
    assert len(recs) == 4 and all(r.symbol == "BTCUSDT" for r in recs)
    assert recs[0].data == RawQuote(4228350, 4228360, 512300, 100400, 1704067200003000000)
    assert recs[3].ts == 1704067200041000000  # transaction_time 0: event_time used


def test_binance_spot_trades_without_header_and_microseconds():
    path = str(DATA / "BTCUSDT-trades-2024-01-01.csv")
    recs = list(read_file(path, "binance_trades", {"BTCUSDT": BTC_SPEC}))
    assert [r.data.aggressor for r in recs] == [BUYER, SELLER, SELLER]
    assert recs[0].data == RawTrade(4228360, 1200, BUYER, "3345111001", 1704067200005000000)
    assert recs[2].ts == 1704067200027000000  # microsecond timestamp


def test_binance_futures_trades_with_header_map_to_replay_symbol():
    path = str(DATA / "ETHUSDT-trades-2024-01-01.csv")
    recs = list(read_file(path, "auto", {"BTCUSDT": BTC_SPEC, "ETHUSDT": ETH_SPEC}))
    assert [r.symbol for r in recs] == ["ETHUSDT-PERP", "ETHUSDT-PERP"]
    assert recs[0].data == RawTrade(228155, 1250, BUYER, "4011001", 1704067200002000000)


def test_binance_malformed_line_names_file_and_line():
    path = str(DATA / "BTCUSDT-trades-bad.csv")
    with pytest.raises(ReplayError, match=r"BTCUSDT-trades-bad\.csv:2: is_buyer_maker 'maybe'"):
        list(read_file(path, "auto", {"BTCUSDT": BTC_SPEC}))


def test_binance_unknown_symbol_file(tmp_path):
    p = tmp_path / "SOLUSDT-trades-2024-01-01.csv"
    p.write_text("1,1,1,1,1704067200005,true,true\n")
    with pytest.raises(ReplayError, match="cannot tell the instrument"):
        list(read_file(str(p), "auto", {"BTCUSDT": BTC_SPEC, "ETHUSDT": ETH_SPEC}))
    # with one configured instrument the file is taken as that instrument's
    assert len(list(read_file(str(p), "auto", {"BTCUSDT": BTC_SPEC}))) == 1


def test_merge_files_by_time():
    specs = {"BTCUSDT": BTC_SPEC}
    paths = [str(DATA / "BTCUSDT-bookTicker-2024-01-01.csv"),
             str(DATA / "BTCUSDT-trades-2024-01-01.csv")]
    recs = list(merge_files(paths, "auto", specs))
    assert len(recs) == 7
    assert [r.ts for r in recs] == sorted(r.ts for r in recs)
    assert [type(r.data).__name__ for r in recs[:3]] == ["RawQuote", "RawTrade", "RawQuote"]
