"""Replay of recorded market data files: a generic CSV and Binance's public-data CSVs.

Readers are lazy generators (a file of any size streams) of `ReplayRecord`s in
file order; `merge_files` merges several files by timestamp. Prices and sizes
become raw integers at the instrument's precision (rounded half up). A line
that cannot be read raises `ReplayError` naming the file, the line number and
what was wrong; with an ``on_bad`` callback (``on_bad_line = "skip"``) the
readers hand it that error instead and go on with the next line (a file that
cannot be opened, or a generic file without its header, still raises).

Every line is checked as it is parsed, so nothing the venue or the node cannot
hold gets past the reader (`livenode.venues.sim.replay_checks`): prices > 0,
quote sizes >= 0, trade sizes > 0, every raw value within the fixed-point range
(``RAW_MAX``), bid <= ask, trade ids the node accepts, and time never going
backwards within a file (nor before the epoch, nor past ``RAW_MAX`` ns). A line
that is not UTF-8 and a line the csv module refuses (a field over its field size
limit) are bad lines too. The checks cost a few comparisons per line.

Generic format (``replay_format = "generic"``)
------------------------------------------------
UTF-8 CSV with a header row naming the columns (any order; unknown columns are
ignored); blank lines and lines starting with ``#`` are skipped:

====================  ============================================================
column                meaning
====================  ============================================================
``ts_event``          integer nanoseconds since the UNIX epoch, or ISO 8601
                      (``2024-01-02T03:04:05.123456Z``; no zone means UTC)
``symbol``            instrument symbol (``BTCUSDT``); rows of unconfigured
                      symbols are skipped
``type``              ``quote`` or ``trade``
``bid_price``,        quote rows: best bid/ask price and size
``bid_size``,
``ask_price``,
``ask_size``
``price``, ``size``   trade rows: price and size
``aggressor_side``    trade rows, optional: ``BUYER``, ``SELLER`` or empty
``trade_id``          trade rows, optional: the venue trade id
====================  ============================================================

Example::

    ts_event,symbol,type,bid_price,bid_size,ask_price,ask_size,price,size,aggressor_side,trade_id
    1704067200000000000,BTCUSDT,quote,42000.10,1.5,42000.20,0.7,,,,
    1704067200001000000,BTCUSDT,trade,,,,,42000.20,0.1,BUYER,T1

Binance public data (https://data.binance.vision)
--------------------------------------------------
``binance_bookticker`` (USD-M futures daily ``bookTicker``): ``update_id,
best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,
event_time`` (milliseconds; header optional; ``transaction_time`` is used,
``event_time`` when it is 0). ``binance_trades`` (spot ``trades``: ``id,price,
qty,quote_qty,time,is_buyer_maker,is_best_match`` without header; USD-M futures
``trades``: same without ``is_best_match``, with a header): ``time`` in
milliseconds, or microseconds (spot files from 2025) when above 1e15;
``is_buyer_maker = true`` means the seller was the aggressor. The symbol is the
file name's prefix (``BTCUSDT-trades-2024-01-01.csv``), or the only configured
instrument. ``auto`` picks the Binance format from ``-bookTicker-`` /
``-trades-`` in the file name, else generic.
"""

from __future__ import annotations

import csv
import heapq
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from livenode.venues.sim.market import BUYER, SELLER, RawQuote, RawTrade
from livenode.venues.sim.orders import InstrumentSpec
from livenode.venues.sim.replay_checks import (
    RAW_MAX,
    TS_MAX,
    quote_problem,
    trade_problem,
    ts_problem,
)


class ReplayError(ValueError):
    """A replay file that cannot be read; the message names the file and line."""


#: Called with the error of a bad line when bad lines are skipped.
OnBadLine = Callable[[ReplayError], None]


def _bad(path: str, line_no: int, exc: Exception, on_bad: OnBadLine | None) -> None:
    """Raise the error of a bad line, or hand it to ``on_bad`` (which skips it)."""
    error = ReplayError(f"{path}:{line_no}: {exc}")
    if on_bad is None:
        raise error from None
    on_bad(error)


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    ts: int
    symbol: str  # the configured instrument symbol
    data: RawQuote | RawTrade


def parse_raw(text: str, precision: int) -> int:
    """A decimal string as a raw integer at ``precision``, rounding half up.

    Faster than `Decimal` for the plain decimals CSV files hold; raises
    `ValueError` on anything else.
    """
    text = text.strip()
    neg = text.startswith("-")
    if neg or text.startswith("+"):
        text = text[1:]
    whole, _, frac = text.partition(".")
    if not (whole or frac) or not (whole.isdigit() or whole == "") or not (
        frac.isdigit() or frac == ""
    ):
        raise ValueError(f"not a decimal number: {text!r}")
    frac_kept = frac[:precision].ljust(precision, "0")
    raw: int = int(whole or "0") * 10**precision + int(frac_kept or "0")
    if len(frac) > precision and frac[precision] >= "5":
        raw += 1
    return -raw if neg else raw


def parse_ts(text: str) -> int:
    """Integer nanoseconds, or ISO 8601 (UTC when no zone), as nanoseconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    frac_ns = 0
    # datetime keeps microseconds only; keep the nanosecond digits ourselves.
    if "." in iso:
        head, _, rest = iso.partition(".")
        n = 0
        while n < len(rest) and rest[n].isdigit():
            n += 1
        digits, zone = rest[:n], rest[n:]
        frac_ns = int(digits[:9].ljust(9, "0")) if digits else 0
        iso = head + zone
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


def detect_format(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = os.path.basename(path).lower()
    if "-bookticker-" in name:
        return "binance_bookticker"
    if "-trades-" in name or "-aggtrades-" in name:
        return "binance_trades"
    return "generic"


def _symbol_for_file(path: str, specs: dict[str, InstrumentSpec]) -> str:
    """Binance files hold one symbol, named by the file's prefix."""
    prefix = os.path.basename(path).split("-", 1)[0].upper()
    if prefix in specs:
        return prefix
    if len(specs) == 1:
        return next(iter(specs))
    raise ReplayError(
        f"{path}: cannot tell the instrument from the file name (prefix {prefix!r}; "
        f"configured replay symbols: {', '.join(sorted(specs))})"
    )


def read_file(
    path: str, fmt: str, specs: dict[str, InstrumentSpec], on_bad: OnBadLine | None = None
) -> Iterator[ReplayRecord]:
    """Records of one file in file order; ``specs`` is keyed by the symbol used in files.

    A bad line raises `ReplayError`, or is given to ``on_bad`` and skipped.
    """
    fmt = detect_format(path, fmt)
    if fmt == "generic":
        return _read_generic(path, specs, on_bad)
    if fmt == "binance_bookticker":
        return _read_binance_bookticker(path, specs, on_bad)
    if fmt == "binance_trades":
        return _read_binance_trades(path, specs, on_bad)
    raise ReplayError(f"{path}: unknown replay format {fmt!r}")


def merge_files(
    paths: Iterable[str],
    fmt: str,
    specs: dict[str, InstrumentSpec],
    on_bad: OnBadLine | None = None,
) -> Iterator[ReplayRecord]:
    """All files' records merged by timestamp (ties keep file order)."""
    readers = [read_file(p, fmt, specs, on_bad) for p in paths]
    if len(readers) == 1:
        return readers[0]
    return heapq.merge(*readers, key=lambda r: r.ts)


def _rows(path: str, on_bad: OnBadLine | None) -> Iterator[tuple[int, list[str]]]:
    """The csv rows of a file with their line numbers, blank and ``#`` lines left out.

    A line that is not UTF-8 and a line the csv module refuses are bad lines (raised,
    or given to ``on_bad``), never an exception out of the reader.
    """
    try:
        # Opened outside `with` so only the open's OSError becomes a ReplayError.
        # surrogateescape: undecodable bytes become lone surrogates (which valid UTF-8
        # never decodes to), so one bad line is found and named, not the whole chunk.
        handle = open(  # noqa: SIM115 - closed by `with` below
            path, newline="", encoding="utf-8", errors="surrogateescape"
        )
    except OSError as exc:
        raise ReplayError(f"{path}: cannot open replay file: {exc.strerror}") from exc
    not_utf8: list[str] = []  # what `_utf8_lines` blanked out, for the next blank row
    with handle:
        reader = csv.reader(_utf8_lines(handle, not_utf8))
        while True:
            try:
                for row in reader:
                    if not row or (len(row) == 1 and not row[0].strip()) or row[0].startswith("#"):
                        if not_utf8:  # the blank row stands for a line that was not UTF-8
                            _bad(path, reader.line_num, ValueError(not_utf8.pop()), on_bad)
                        continue
                    yield reader.line_num, row
                return
            except csv.Error as exc:  # e.g. a field over csv.field_size_limit(); the
                # reader goes on with the next line
                _bad(path, reader.line_num, exc, on_bad)


def _utf8_lines(lines: Iterable[str], not_utf8: list[str]) -> Iterator[str]:
    """``lines``, with each line that was not UTF-8 replaced by a blank line and
    described in ``not_utf8`` (decoded with surrogateescape)."""
    for line in lines:
        # isascii() is O(1) on a str: the common line costs no scan at all.
        if line.isascii():
            yield line
            continue
        try:
            line.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = ord(line[exc.start]) - 0xDC00
            not_utf8.append(f"not UTF-8: byte 0x{byte:02x} at character {exc.start + 1}")
            yield "\n"
            continue
        yield line


def _read_generic(
    path: str, specs: dict[str, InstrumentSpec], on_bad: OnBadLine | None
) -> Iterator[ReplayRecord]:
    rows = _rows(path, on_bad)
    header_line = next(rows, None)
    if header_line is None:
        raise ReplayError(f"{path}: empty replay file (expected a header row)")
    line_no, header = header_line
    cols = {name.strip(): i for i, name in enumerate(header)}
    missing = [c for c in ("ts_event", "symbol", "type") if c not in cols]
    if missing:
        raise ReplayError(f"{path}:{line_no}: header lacks column(s) {', '.join(missing)}")
    width = len(header)
    i_ts, i_sym, i_type = cols["ts_event"], cols["symbol"], cols["type"]

    def col(row: list[str], name: str) -> str:
        i = cols.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    last_ts = 0
    for line_no, row in rows:
        try:
            if len(row) != width:
                raise ValueError(f"expected {width} fields, got {len(row)}")
            spec = specs.get(row[i_sym].strip())
            if spec is None:
                continue
            ts = parse_ts(row[i_ts])
            if not last_ts <= ts <= TS_MAX:
                raise ValueError(ts_problem(ts, last_ts))
            kind = row[i_type].strip().lower()
            pp, sp = spec.price_precision, spec.size_precision
            if kind == "quote":
                bid = parse_raw(col(row, "bid_price"), pp)
                ask = parse_raw(col(row, "ask_price"), pp)
                bsz = parse_raw(col(row, "bid_size"), sp)
                asz = parse_raw(col(row, "ask_size"), sp)
                # replay_checks.quote_ok, inlined
                if not (0 < bid <= ask <= RAW_MAX and 0 <= bsz <= RAW_MAX
                        and 0 <= asz <= RAW_MAX):
                    raise ValueError(quote_problem(bid, ask, bsz, asz, pp, sp))
                data: RawQuote | RawTrade = RawQuote(bid, ask, bsz, asz, ts)
            elif kind == "trade":
                side = col(row, "aggressor_side").upper()
                if side not in ("", BUYER, SELLER, "NO_AGGRESSOR"):
                    raise ValueError(f"aggressor_side {side!r} is not BUYER, SELLER or empty")
                data = _trade(
                    parse_raw(col(row, "price"), pp),
                    parse_raw(col(row, "size"), sp),
                    side if side in (BUYER, SELLER) else "NO_AGGRESSOR",
                    col(row, "trade_id") or f"{spec.symbol}-R{line_no}",
                    ts, pp, sp,
                )
            else:
                raise ValueError(f"type {kind!r} is not 'quote' or 'trade'")
        except (ValueError, IndexError) as exc:
            _bad(path, line_no, exc, on_bad)
            continue
        last_ts = ts
        yield ReplayRecord(ts, spec.symbol, data)


def _trade(
    price: int, size: int, aggressor: str, trade_id: str, ts: int, pp: int, sp: int
) -> RawTrade:
    """The trade, or ValueError saying what is wrong (trades are rarer than quotes:
    one call is affordable here)."""
    # replay_checks.trade_ok
    if not (0 < price <= RAW_MAX and 0 < size <= RAW_MAX and trade_id != ""
            and trade_id.isprintable() and " " not in trade_id):
        raise ValueError(trade_problem(price, size, trade_id, pp, sp))
    return RawTrade(price, size, aggressor, trade_id, ts)


def _ms_or_us(value: str) -> int:
    t = int(value)
    return t * 1_000 if t >= 10**15 else t * 1_000_000


def _read_binance_bookticker(
    path: str, specs: dict[str, InstrumentSpec], on_bad: OnBadLine | None
) -> Iterator[ReplayRecord]:
    spec = specs[_symbol_for_file(path, specs)]
    pp, sp = spec.price_precision, spec.size_precision
    last_ts = 0
    for line_no, row in _rows(path, on_bad):
        if line_no == 1 and not row[0].strip().isdigit():
            continue  # header row
        try:
            if len(row) < 6:
                raise ValueError(f"expected 7 fields, got {len(row)}")
            ts_text = row[5] if row[5].strip() not in ("", "0") else row[6]
            ts = _ms_or_us(ts_text)
            if not last_ts <= ts <= TS_MAX:
                raise ValueError(ts_problem(ts, last_ts))
            bid, ask = parse_raw(row[1], pp), parse_raw(row[3], pp)
            bsz, asz = parse_raw(row[2], sp), parse_raw(row[4], sp)
            # replay_checks.quote_ok, inlined
            if not (0 < bid <= ask <= RAW_MAX and 0 <= bsz <= RAW_MAX and 0 <= asz <= RAW_MAX):
                raise ValueError(quote_problem(bid, ask, bsz, asz, pp, sp))
            quote = RawQuote(bid, ask, bsz, asz, ts)
        except (ValueError, IndexError) as exc:
            _bad(path, line_no, exc, on_bad)
            continue
        last_ts = ts
        yield ReplayRecord(ts, spec.symbol, quote)


def _read_binance_trades(
    path: str, specs: dict[str, InstrumentSpec], on_bad: OnBadLine | None
) -> Iterator[ReplayRecord]:
    spec = specs[_symbol_for_file(path, specs)]
    pp, sp = spec.price_precision, spec.size_precision
    last_ts = 0
    for line_no, row in _rows(path, on_bad):
        if line_no == 1 and not row[0].strip().isdigit():
            continue  # header of the futures layout
        try:
            if len(row) < 6:
                raise ValueError(f"expected 6 or 7 fields, got {len(row)}")
            maker = row[5].strip().lower()
            if maker not in ("true", "false"):
                raise ValueError(f"is_buyer_maker {row[5]!r} is not true/false")
            ts = _ms_or_us(row[4])
            if not last_ts <= ts <= TS_MAX:
                raise ValueError(ts_problem(ts, last_ts))
            trade = _trade(
                parse_raw(row[1], pp),
                parse_raw(row[2], sp),
                SELLER if maker == "true" else BUYER,
                row[0].strip() or f"{spec.symbol}-R{line_no}",
                ts, pp, sp,
            )
        except (ValueError, IndexError) as exc:
            _bad(path, line_no, exc, on_bad)
            continue
        last_ts = ts
        yield ReplayRecord(ts, spec.symbol, trade)
