"""Netting positions built from fills, shared by the execution engine and the
execution mirror of processes that only follow its events."""

from __future__ import annotations

import logging
from typing import Any

from livenode.cache.cache import Cache
from livenode.model.events import OrderFilled, PositionChanged, PositionClosed, PositionOpened
from livenode.model.position import Position

_log = logging.getLogger("livenode.engines.positions")


def apply_fill_to_position(cache: Cache, fill: OrderFilled) -> Any | None:
    """Apply `fill` to its position in `cache` (opening it if needed).

    Returns the position event to publish (PositionOpened/Changed/Closed), or None
    when the position could not take the fill (unknown instrument, refused fill),
    which is logged: the order took the fill, and a position refusing it must not
    stop the caller.
    """
    instrument = cache.instrument(fill.instrument_id)
    if instrument is None:
        _log.error(
            "fill %s of %s: instrument %s unknown, position not updated",
            fill.trade_id,
            fill.client_order_id,
            fill.instrument_id,
        )
        return None
    position = cache.position(fill.position_id) if fill.position_id is not None else None
    try:
        if position is None:
            position = Position(instrument, fill)
            kind: type = PositionOpened
        else:
            # A closed netting position reopens in place (Position.apply resets it).
            reopening = position.is_closed
            position.apply(fill)
            if reopening:
                kind = PositionOpened
            else:
                kind = PositionClosed if position.is_closed else PositionChanged
    except ValueError:
        _log.exception("position %s refused fill %s", fill.position_id, fill.trade_id)
        return None
    cache.update_position(position)
    return position.snapshot_event(kind)
