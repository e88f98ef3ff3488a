"""Configuration of the simulated venue: its instruments, market feed, account and latencies.

`SimVenueConfig` is what a `SimVenue` (in-process or in its venue process) is built
from. The node names it in one place, the sim data client's config
(``livenode.adapters.sim.SimDataClientConfig.venue_config``); see that module for a
sandbox TOML and ``docs/sim-venue.md`` for the venue's behaviour.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import msgspec

# Constrained numbers: a bad value fails at config load, naming the field.
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Probability = Annotated[float, msgspec.Meta(ge=0, le=1)]
Precision = Annotated[int, msgspec.Meta(ge=0, le=16)]


class SimInstrumentConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One instrument of the simulated venue and the character of its synthetic market.

    Decimal values are strings so they stay exact. ``volatility`` is the standard
    deviation of the relative mid-price change per quote update; ``spread_ticks``
    is the minimum spread in price increments (a random extra of 0-2 ticks is
    added, more often 0); sizes are exponential around ``mean_size``;
    ``trade_probability`` is the chance that a quote update also prints a trade.
    """

    symbol: str
    kind: Literal["spot", "perpetual"] = "spot"
    base: str = "BTC"
    quote: str = "USDT"
    price_precision: Precision = 2
    size_precision: Precision = 5
    price_increment: str = "0.01"
    size_increment: str = "0.00001"
    min_quantity: str | None = "0.00001"
    max_quantity: str | None = "1000"
    min_notional: str | None = "5"
    max_notional: str | None = None
    maker_fee: str = "0.0002"
    taker_fee: str = "0.0005"
    start_price: str = "50000"
    volatility: NonNegative = 0.0001
    spread_ticks: Annotated[int, msgspec.Meta(ge=1)] = 1
    mean_size: str = "0.5"
    trade_probability: Probability = 0.2
    replay_symbol: str | None = None  # symbol in replay files when it differs


class SimFeedConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the venue's market comes from.

    ``random_walk``: ``rate_per_second`` quote updates per instrument per second
    (trades in addition, see ``trade_probability``), produced in batches every
    ``batch_interval_ms`` so high rates do not flood the loop with callbacks;
    ``max_ticks`` (per instrument) stops the feed after that many quote updates.
    ``replay``: ``replay_path`` (a file or a list of files, merged by time) in
    ``replay_format`` (``auto`` picks from Binance file names), at
    ``replay_speed`` times the recorded pace (0 = as fast as possible), looping
    when ``loop_replay``. ``replay_timestamps = "venue"`` stamps ticks with the
    venue clock when emitted (so timers and bars work live); ``"recorded"`` keeps
    the file's timestamps. The replay starts once the strategies have subscribed
    (in multiprocess mode: every trader worker's), so nothing is replayed before
    anyone listens; its end is
    logged ("replay finished: N quotes, M trades, ..."). ``stop_at_end`` stops the
    node cleanly when every file is done (a backtest through the live node).
    ``on_bad_line``: ``"stop"`` ends the feed at a line that cannot be read (or
    holds what no venue sends: see ``livenode.venues.sim.replay_checks``) and stops
    the node with a failure (exit 1); ``"skip"`` logs the line, counts it and goes on.
    ``on_error``: what an exception in the feed itself does (the venue's matching,
    a listener, a bug; not a bad line): ``"stop"`` ends the feed and the data client
    stops the node with a failure naming it (exit 1); ``"restart"`` logs it, drops
    the record it happened on and resumes after a short pause, stopping as
    ``"stop"`` after five failures in a row. It lives here, with the feed, because
    the feed runs where the venue runs (in its own process in multiprocess mode).
    With ``loop_replay`` and ``replay_timestamps = "recorded"``, each loop's times
    are shifted to follow the previous loop's, so time never goes backwards.
    The replay files must exist when the config is loaded (relative paths are
    relative to the working directory).
    """

    mode: Literal["random_walk", "replay"] = "random_walk"
    rate_per_second: Positive = 10.0
    seed: int = 1
    batch_interval_ms: Positive = 2.0
    max_ticks: Annotated[int, msgspec.Meta(ge=0)] | None = None
    replay_path: str | list[str] | None = None
    replay_format: Literal["generic", "binance_bookticker", "binance_trades", "auto"] = "generic"
    replay_speed: NonNegative = 1.0
    loop_replay: bool = False
    replay_timestamps: Literal["venue", "recorded"] = "venue"
    replay_batch_size: Annotated[int, msgspec.Meta(ge=1)] = 1000
    stop_at_end: bool = False
    on_bad_line: Literal["stop", "skip"] = "stop"
    on_error: Literal["stop", "restart"] = "stop"

    def __post_init__(self) -> None:
        if self.mode != "replay" or not self.replay_path:
            return
        paths = [self.replay_path] if isinstance(self.replay_path, str) else self.replay_path
        for path in paths:
            if not os.path.isfile(path):
                where = "" if os.path.isabs(path) else f" (in {os.getcwd()})"
                what = "is not a file" if os.path.exists(path) else "not found"
                raise ValueError(f"replay_path: replay file {path!r} {what}{where}")

    @property
    def replay_paths(self) -> list[str]:
        """``replay_path`` as a list (empty when unset)."""
        if not self.replay_path:
            return []
        return [self.replay_path] if isinstance(self.replay_path, str) else list(self.replay_path)


class SimVenueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The simulated venue: instruments, market feed, account and latencies."""

    venue: str | None = None  # None: the data client's venue; when set it must match it
    instruments: list[SimInstrumentConfig] = msgspec.field(
        default_factory=lambda: [SimInstrumentConfig(symbol="BTCUSDT")]
    )
    feed: SimFeedConfig = msgspec.field(default_factory=SimFeedConfig)
    ack_latency_ms: NonNegative = 0.0
    fill_latency_ms: NonNegative = 0.0
    account_type: Literal["CASH"] = "CASH"
    account_id: str | None = None  # default "{venue}-001"
    starting_balances: list[str] = msgspec.field(default_factory=lambda: ["1000000 USDT"])
    reject_when_insufficient_balance: bool = True
    leverage: Annotated[int, msgspec.Meta(ge=1)] = 1  # perpetual margin = notional / leverage
    max_closed_orders: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    # A file (SQLite) where the venue keeps its orders, fills, positions and balances,
    # written before its events go out; a venue started on it continues from it, like a
    # real venue after a restart. None: the venue forgets everything when it stops.
    state_path: str | None = None
