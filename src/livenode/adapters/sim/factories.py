"""Client factories of the sim adapter, named in configs by import path.

The venue is built once per node by the data client factory, from its config's
``venue_config``, and kept in ``context.resources[f"sim.venue.{venue}"]``; the
execution client factory finds it there (the node builds data clients first).
"""

from __future__ import annotations

from typing import ClassVar

from livenode.adapters.sim.config import SimDataClientConfig, SimExecClientConfig
from livenode.adapters.sim.data_client import SimDataClient
from livenode.adapters.sim.exec_client import SimExecClient
from livenode.adapters.sim.venue import SimVenue
from livenode.model.identifiers import AccountId
from livenode.node.clients import ClientContext


def venue_resource_key(venue: str) -> str:
    """Where a node keeps the sim venue of this name in ``ClientContext.resources``."""
    return f"sim.venue.{venue}"


class SimDataClientFactory:
    """Builds the venue (once per node and venue name) and a `SimDataClient` for it."""

    config_type: ClassVar[type] = SimDataClientConfig

    @staticmethod
    def create(name: str, config: SimDataClientConfig, context: ClientContext) -> SimDataClient:
        key = venue_resource_key(config.venue)
        venue = context.resources.get(key)
        if venue is None:
            venue = SimVenue(config.venue_config, context.loop, context.clock, config.venue)
            context.resources[key] = venue
        return SimDataClient(name, venue, context)


class SimExecClientFactory:
    """Builds a `SimExecClient` on the venue the sim data client factory built."""

    config_type: ClassVar[type] = SimExecClientConfig

    @staticmethod
    def create(name: str, config: SimExecClientConfig, context: ClientContext) -> SimExecClient:
        venue = context.resources.get(venue_resource_key(config.venue))
        if venue is None:
            raise LookupError(
                f"sim exec client {name!r}: no sim venue {config.venue!r} in this node; "
                f"configure a data client with factory "
                f"'livenode.adapters.sim:SimDataClientFactory' and venue = {config.venue!r} "
                "(it builds the venue; data clients are built before exec clients)"
            )
        account_id = None
        if config.account_id is not None:
            account_id = AccountId(config.account_id)
            if account_id != venue.account_id:
                raise ValueError(
                    f"sim exec client {name!r}: account_id {config.account_id!r} differs from "
                    f"the venue's account {venue.account_id} (set venue_config.account_id on "
                    "the data client instead)"
                )
        return SimExecClient(name, venue, context, account_id, config.max_latency_samples)
