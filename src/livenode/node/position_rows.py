"""The positions one process reports: net quantity and PnL per instrument, closed cycles.

A process reports the positions it owns, so the supervisor's merge (which adds them up)
counts each once:

- a process with the execution engine and the trader (a single-process node): every
  position, EXTERNAL included;
- a trader worker: its own strategies' positions only. Its cache and portfolio also
  follow the other strategies' positions, EXTERNAL included: a venue nets the account,
  and the strategies' reduce-only closes are bounded by the account's net
  (`livenode.trading.closing`). Those are reported by their owners;
- an exec worker: the EXTERNAL positions, which no trader owns (`external_position_rows`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from livenode.engines.risk_checks import net_position_from_cache
from livenode.engines.venue_recovery import EXTERNAL_STRATEGY_ID
from livenode.node.report_rows import closed_position_row, money_text
from livenode.node.run_report import ClosedPositionRow, PositionRow, decimal_text

if TYPE_CHECKING:
    from livenode.model.identifiers import InstrumentId, StrategyId
    from livenode.model.objects import Money
    from livenode.node.kernel import Kernel

__all__ = [
    "closed_position_rows",
    "external_position_rows",
    "net_quantity",
    "open_nets",
    "position_rows",
    "reported_strategies",
]


def reported_strategies(kernel: Kernel) -> frozenset[StrategyId] | None:
    """The strategies whose positions `kernel`'s process reports; None: every one."""
    if "exec" in kernel.roles:
        return None
    return frozenset(s.id for s in kernel.strategies)


def net_quantity(
    kernel: Kernel, instrument_id: InstrumentId, strategies: frozenset[StrategyId] | None
) -> Decimal:
    """Signed net of the reported positions in the instrument, from the cache: it
    applies each fill to its position before any handler runs (the execution engine,
    or a trader worker's mirror), so this is what the strategies saw. The portfolio
    follows the position events, which may still be on the bus when a trader worker
    reports at its stop."""
    cache = kernel.cache
    if strategies is None:
        return net_position_from_cache(cache, instrument_id)
    return sum((net_position_from_cache(cache, instrument_id, sid) for sid in strategies),
               Decimal(0))


def open_nets(kernel: Kernel) -> dict[str, Decimal]:
    """Net signed quantity per instrument, for the instruments not flat."""
    if kernel.portfolio is None:
        return {}
    strategies = reported_strategies(kernel)
    nets = {}
    for instrument_id in kernel.cache.instrument_ids():
        net = net_quantity(kernel, instrument_id, strategies)
        if net != 0:
            nets[str(instrument_id)] = net
    return nets


def _total(values: list[Money | None]) -> Money | None:
    """The sum, or None when any part is unknown (or there is none)."""
    known = [v for v in values if v is not None]
    if not known or len(known) != len(values):
        return None
    total = known[0]
    for value in known[1:]:
        total = total + value
    return total


def position_rows(kernel: Kernel) -> dict[str, PositionRow]:
    """Per instrument traded: net quantity, realized and unrealized PnL.

    Read from the portfolio (which follows position events on the bus), so realized
    PnL is net of commissions, as the positions report it; unrealized PnL is marked at
    the latest quote (None when there is none). Realized PnL is the lifetime total,
    every cycle; ``closed_cycles`` counts the cycles closed (listed in
    `closed_position_rows`).
    """
    portfolio = kernel.portfolio
    if portfolio is None:
        return {}
    strategies = reported_strategies(kernel)
    rows = {}
    for instrument_id in kernel.cache.instrument_ids():
        if strategies is None:
            realized = portfolio.realized_pnl(instrument_id)
            unrealized = portfolio.unrealized_pnl(instrument_id)
            closed = len(portfolio.closed_positions(instrument_id))
        else:
            held = [sid for sid in sorted(strategies, key=str)
                    if portfolio.realized_pnl(instrument_id, sid) is not None]
            realized = _total([portfolio.realized_pnl(instrument_id, sid) for sid in held])
            unrealized = _total([portfolio.unrealized_pnl(instrument_id, sid) for sid in held])
            closed = sum(len(portfolio.closed_positions(instrument_id, sid)) for sid in held)
        if realized is None:
            continue  # never traded
        key = str(instrument_id)
        rows[key] = PositionRow(
            instrument_id=key,
            net_quantity=decimal_text(net_quantity(kernel, instrument_id, strategies)),
            realized_pnl=money_text(realized),
            unrealized_pnl=None if unrealized is None else money_text(unrealized),
            currency=str(realized.currency.code),
            closed_cycles=closed,
        )
    return rows


def closed_position_rows(kernel: Kernel) -> list[ClosedPositionRow]:
    """The closed cycles of the reported positions, oldest first."""
    portfolio = kernel.portfolio
    if portfolio is None:
        return []
    strategies = reported_strategies(kernel)
    return [closed_position_row(e) for e in portfolio.closed_positions()
            if strategies is None or e.strategy_id in strategies]


def external_position_rows(kernel: Kernel) -> dict[str, PositionRow]:
    """Per instrument, the EXTERNAL positions (fills adopted from outside the node) as
    this process's cache holds them: what an exec worker of a multiprocess node reports,
    since no trader owns the EXTERNAL strategy. Unrealized PnL is left out (None): the
    exec worker does not mark positions."""
    rows: dict[str, PositionRow] = {}
    cache = kernel.cache
    # Netting: one EXTERNAL position per instrument.
    for position in cache.positions(strategy_id=EXTERNAL_STRATEGY_ID):
        key = str(position.instrument_id)
        net = net_position_from_cache(cache, position.instrument_id, EXTERNAL_STRATEGY_ID)
        realized = position.lifetime_realized_pnl
        rows[key] = PositionRow(instrument_id=key, net_quantity=decimal_text(net),
                                realized_pnl=money_text(realized), unrealized_pnl=None,
                                currency=str(realized.currency.code))
    return rows
