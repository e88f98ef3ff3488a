"""What a replay line must satisfy to become a record: the parse-time checks.

A recorded file may hold anything: a negative size, a price of 1e30, a crossed
quote, time running backwards. None of it may get past the reader: the venue
would build a `Price` / `Quantity` that cannot exist (and its feed would die on
the exception), or hand the node a quote no real venue sends. So every record is
checked where it is parsed, and a line that fails is a bad line (``on_bad_line``)
naming what was wrong.

The good path is one chained comparison per record, inlined in the readers (a
function call per line would cost more than the comparison); `quote_ok` /
`trade_ok` are the same tests as functions, for tests and other readers. Only a
failing record pays for finding and wording the problem.

- quotes: ``0 < bid <= ask <= RAW_MAX`` (prices positive, not crossed; a locked
  quote, bid == ask, is allowed), ``0 <= size <= RAW_MAX`` for both sizes;
- trades: ``0 < price <= RAW_MAX``, ``0 < size <= RAW_MAX``, a trade id the node
  accepts (`livenode.model.identifiers.TradeId`: printable, no spaces);
- time (`ts_problem`): not before the previous record of the same file, not
  before the epoch, not past ``TS_MAX``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from livenode.model.fixed_point import RAW_MAX, format_fixed

__all__ = [
    "RAW_MAX",
    "TS_MAX",
    "quote_ok",
    "quote_problem",
    "trade_ok",
    "trade_problem",
    "ts_problem",
]

#: The latest timestamp a record may carry (ns): what the model's int64 fields hold.
TS_MAX = RAW_MAX

# A value in a message is cut to this many characters (a 4000-digit "price").
_SHOWN = 24


def quote_ok(bid: int, ask: int, bid_size: int, ask_size: int) -> bool:
    """Whether a quote passes (the readers inline this very comparison: no call per line)."""
    return 0 < bid <= ask <= RAW_MAX and 0 <= bid_size <= RAW_MAX and 0 <= ask_size <= RAW_MAX


def quote_problem(bid: int, ask: int, bid_size: int, ask_size: int, pp: int, sp: int) -> str:
    """What is wrong with a quote that failed `quote_ok` (`pp`, `sp`: the precisions)."""
    return (
        _price_problem("bid price", bid, pp)
        or _price_problem("ask price", ask, pp)
        or _size_problem("bid size", bid_size, sp, zero_ok=True)
        or _size_problem("ask size", ask_size, sp, zero_ok=True)
        or f"crossed quote: bid {_shown(bid, pp)} > ask {_shown(ask, pp)}"
    )


def trade_ok(price: int, size: int, trade_id: str) -> bool:
    """Whether a trade passes (the readers inline this very comparison)."""
    return (0 < price <= RAW_MAX and 0 < size <= RAW_MAX and trade_id != ""
            and trade_id.isprintable() and " " not in trade_id)


def trade_problem(price: int, size: int, trade_id: str, pp: int, sp: int) -> str:
    """What is wrong with a trade that failed `trade_ok` (`pp`, `sp`: the precisions)."""
    return (
        _price_problem("price", price, pp)
        or _size_problem("size", size, sp, zero_ok=False)
        or f"trade_id {trade_id[:_SHOWN]!r} is empty, or not printable without spaces"
    )


def ts_problem(ts: int, last: int) -> str:
    """Why ``ts`` may not follow ``last`` (the previous record's time in the file)."""
    if ts < 0:
        return f"time {ts} is before the epoch"
    if ts > TS_MAX:
        return f"time {_cut(str(ts))} ns is beyond {TS_MAX} (the largest the node holds)"
    return f"time goes backwards: {_iso(ts)} after {_iso(last)} on an earlier line"


def _price_problem(what: str, raw: int, precision: int) -> str:
    if raw <= 0:
        return f"{what} {_shown(raw, precision)} is not positive"
    if raw > RAW_MAX:
        return f"{what} {_shown(raw, precision)} is beyond the fixed-point range"
    return ""


def _size_problem(what: str, raw: int, precision: int, *, zero_ok: bool) -> str:
    if raw < 0 or (raw == 0 and not zero_ok):
        return f"{what} {_shown(raw, precision)} is {'negative' if raw < 0 else 'zero'}"
    if raw > RAW_MAX:
        return f"{what} {_shown(raw, precision)} is beyond the fixed-point range"
    return ""


def _shown(raw: int, precision: int) -> str:
    return _cut(format_fixed(raw, precision))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _iso(ts: int) -> str:
    seconds, nanos = divmod(ts, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"
