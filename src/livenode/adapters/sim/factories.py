"""Client factories of the sim adapter, named in configs by import path.

Where the venue runs is ``venue_mode`` (see `config.VenueMode`):

- **embedded**: the venue is built once per node from the data client's
  ``venue_config`` and kept in the node's `SimVenues` (``context.shared(SimVenues)``);
  the execution client takes it from there, at creation when the data client was
  created first, else when it connects (`PendingSimVenue`): no creation or connection
  order between the two.
- **process**: the venue is a process of its own (`livenode.venues.sim.server`),
  started by the supervisor from `SimDataClientFactory.services`; either factory
  builds the process's `RemoteSimVenue` (kept in the same `SimVenues`) at
  `venue_endpoints(context.run_dir, venue)`. The exec factory needs no data client.
- **auto**: "process" when ``context.run_dir`` is set (in a supervisor's worker),
  else "embedded".
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import ClassVar

import msgspec

from livenode.adapters.sim.config import SimDataClientConfig, SimExecClientConfig
from livenode.adapters.sim.data_client import SimDataClient
from livenode.adapters.sim.exec_client import SimExecClient
from livenode.adapters.sim.registry import PendingSimVenue, SimVenues, resolve_venue_mode
from livenode.engines.clients import ClientContext, ClientFactory, ServiceSpec
from livenode.model.identifiers import AccountId
from livenode.venues.sim.remote_protocol import READY_LINE, venue_endpoints
from livenode.venues.sim.venue import SimVenue

__all__ = [
    "SERVER_MODULE",
    "SimDataClientFactory",
    "SimExecClientFactory",
    "SimVenues",
    "resolve_venue_mode",
]

SERVER_MODULE = "livenode.venues.sim.server"


class SimDataClientFactory(ClientFactory):
    """Builds the venue (or its remote proxy) once per process and a `SimDataClient`."""

    config_type: ClassVar[type] = SimDataClientConfig

    @staticmethod
    def create(name: str, config: SimDataClientConfig, context: ClientContext) -> SimDataClient:
        who = f"sim data client {name!r}"
        venues = context.shared(SimVenues)
        if resolve_venue_mode(config.venue_mode, context.run_dir) == "process":
            remote = venues.remote(who, config.venue, config.connect_timeout, context)
            return SimDataClient(name, remote, context)
        venue = venues.embedded(who, config.venue, config.venue_config, context)
        return SimDataClient(name, venue, context)

    @staticmethod
    def configured_instruments(config: SimDataClientConfig) -> tuple[str, list[str]]:
        """The venue and the instrument ids it will list (for `config validate`)."""
        return config.venue, [f"{i.symbol}.{config.venue}" for i in config.venue_config.instruments]

    @staticmethod
    def services(name: str, config: SimDataClientConfig, run_dir: str) -> list[ServiceSpec]:
        """The venue process to start before the workers ([] when the venue is embedded).

        Called by the supervisor (in its own process: ``--parent`` is the caller's
        pid, so the venue stops when the supervisor dies). "auto" counts as
        "process" here, because a supervisor is asking.
        """
        if config.venue_mode == "embedded":
            return []
        venue_config = config.venue_config
        if venue_config.venue is not None and venue_config.venue != config.venue:
            raise ValueError(
                f"sim data client {name!r}: venue_config.venue {venue_config.venue!r} "
                f"differs from venue {config.venue!r}"
            )
        cmd, md = venue_endpoints(run_dir, config.venue)
        # Through a file of the run directory (mode 0600), not the command line: other
        # users see a process's arguments.
        config_path = Path(run_dir) / f"sim-{config.venue}.json"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.encode(venue_config))
        argv = [
            sys.executable, "-m", SERVER_MODULE,
            "--venue", config.venue,
            "--config-file", str(config_path),
            "--command", cmd,
            "--market", md,
            "--parent", str(os.getpid()),
        ]
        return [ServiceSpec(name=f"sim-{config.venue}", argv=argv, ready_line=READY_LINE,
                            venue=config.venue, on_exit=config.venue_on_exit)]


class SimExecClientFactory(ClientFactory):
    """Builds a `SimExecClient` on the node's sim venue (embedded or remote)."""

    config_type: ClassVar[type] = SimExecClientConfig

    @staticmethod
    def create(name: str, config: SimExecClientConfig, context: ClientContext) -> SimExecClient:
        who = f"sim exec client {name!r}"
        account_id = None if config.account_id is None else AccountId(config.account_id)
        venues = context.shared(SimVenues)
        if resolve_venue_mode(config.venue_mode, context.run_dir) == "process":
            remote = venues.remote(who, config.venue, config.connect_timeout, context)
            # The account id is checked at connect, when the venue process tells it.
            return SimExecClient(name, remote, context, account_id, config.max_latency_samples)
        pending = PendingSimVenue(venues, config.venue, who)
        if venues.get(config.venue) is None:  # the data client comes later: take it at connect
            return SimExecClient(name, pending, context, account_id, config.max_latency_samples)
        venue: SimVenue = pending.resolve()  # raises on mixed modes
        if account_id is not None and account_id != venue.account_id:
            raise ValueError(
                f"{who}: account_id {config.account_id!r} differs from "
                f"the venue's account {venue.account_id} (set venue_config.account_id on "
                "the data client instead)"
            )
        return SimExecClient(name, venue, context, account_id, config.max_latency_samples)
