"""Configuration base of every strategy.

A strategy's config is a frozen msgspec Struct so the config loader can validate
the `[strategies.config]` table of the node's TOML against it, naming the field
path of any error. Concrete strategies subclass `StrategyConfig` and add their
own fields (kw_only lets a subclass add required fields after these defaults).
"""

from __future__ import annotations

from typing import Literal

import msgspec


class StrategyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings every strategy has.

    Attributes:
        strategy_id: the strategy's id; defaults to ``"{ClassName}-{order_id_tag}"``.
        order_id_tag: tag of the default strategy id ("001").
        manage_stop: on stop, cancel the strategy's open orders and flatten its
            positions before reporting STOPPED.
        manage_stop_timeout: seconds to wait for the venue to confirm the
            cancels and the flattening fills; the strategy stops anyway after it.
        on_fault: what an exception in a handler does: ``"fault"`` marks only this
            strategy FAULTED (the node runs on; the run ends with exit 1),
            ``"stop_node"`` also asks the node to stop (exit 1), ``"continue"``
            marks it FAULTED and the run still ends with exit 0.
    """

    strategy_id: str | None = None
    order_id_tag: str = "001"
    manage_stop: bool = True
    manage_stop_timeout: float = 5.0
    on_fault: Literal["fault", "stop_node", "continue"] = "fault"

    def __post_init__(self) -> None:
        # Reject values that would only fail much later, at stop time or inside ids.
        if self.manage_stop_timeout < 0:
            raise ValueError(
                f"manage_stop_timeout: expected a number >= 0, got {self.manage_stop_timeout}"
            )
        if not self.order_id_tag or "." in self.order_id_tag or " " in self.order_id_tag:
            raise ValueError(
                f"order_id_tag: expected a non-empty tag without dots or spaces, "
                f"got {self.order_id_tag!r}"
            )
