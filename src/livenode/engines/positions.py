"""Netting positions built from fills, shared by the execution engine and the
execution mirror of processes that only follow its events."""

from __future__ import annotations

import logging

from livenode.cache.cache import Cache
from livenode.model.events import OrderFilled, PositionChanged, PositionEvent, PositionOpened
from livenode.model.position import Position

_log = logging.getLogger("livenode.engines.positions")


def apply_fill_to_position(cache: Cache, fill: OrderFilled) -> list[PositionEvent]:
    """Apply `fill` to its position in `cache` (opening it if needed).

    Returns the position events to publish, in order: PositionOpened, Changed or
    Closed, or for a flip PositionClosed (the old cycle) then PositionOpened (the
    new one). Empty when the position could not take the fill (unknown
    instrument, refused fill), which is logged: the order took the fill, and a
    position refusing it must not stop the caller.
    """
    instrument = cache.instrument(fill.instrument_id)
    if instrument is None:
        _log.error(
            "fill %s of %s: instrument %s unknown, position not updated",
            fill.trade_id,
            fill.client_order_id,
            fill.instrument_id,
        )
        return []
    position = cache.position(fill.position_id) if fill.position_id is not None else None
    if position is not None and position.has_trade_id(fill.trade_id):
        # Counted already: the position was rebuilt from the venue's fills (no cache
        # database) before the order that made this fill was recovered.
        _log.info("fill %s of %s: already in position %s", fill.trade_id,
                  fill.client_order_id, fill.position_id)
        return []
    try:
        if position is None:
            position = Position(instrument, fill)
            events: list[PositionEvent] = [position.snapshot_event(PositionOpened)]
        else:
            # A closed netting position reopens in place (Position.apply resets it).
            reopening = position.is_closed
            closed = position.apply(fill)
            if closed is None:
                kind = PositionOpened if reopening else PositionChanged
                events = [position.snapshot_event(kind)]
            elif position.is_open:
                events = [closed, position.snapshot_event(PositionOpened)]  # a flip
            else:
                events = [closed]
    except ValueError:
        _log.exception("position %s refused fill %s", fill.position_id, fill.trade_id)
        return []
    cache.update_position(position)
    return events
