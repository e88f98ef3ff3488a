"""`[metrics]`: the Prometheus endpoint (docs/metrics.md)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from livenode.config.base import ConfigStruct
from livenode.config.validators import check_host

__all__ = ["DEFAULT_METRICS_PORT", "MetricsConfig"]

#: The port `[metrics]` listens on unless it says otherwise.
DEFAULT_METRICS_PORT = 9464


class MetricsConfig(ConfigStruct, frozen=True, kw_only=True):
    """A Prometheus scrape endpoint (``GET /metrics``), off by default.

    Served by the supervisor of a multiprocess node (a single-process node: the
    node itself) from a thread of its own; a scrape reads the node's current
    state once, so it never touches the trading hot path.
    """

    enabled: bool = False
    # Loopback by default: the endpoint has no authentication; expose it wider
    # (e.g. "0.0.0.0") only behind a firewall or a scraping proxy.
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = DEFAULT_METRICS_PORT

    def __post_init__(self) -> None:
        try:
            check_host(self.host)
        except ValueError as exc:
            raise ValueError(f"host: {exc}") from None
