"""Client factories of the sim adapter, named in configs by import path.

Where the venue runs is ``venue_mode`` (see `config.VenueMode`):

- **embedded**: the venue is built once per node by the data client factory,
  from its config's ``venue_config``, and kept in the node's `SimVenues`
  (``context.shared(SimVenues)``); the execution client factory finds it there
  (the node builds data clients first).
- **process**: the venue is a process of its own (`server`), started by the
  supervisor from `SimDataClientFactory.services`; both factories build a
  `RemoteSimVenue` (one per process, kept in the same `SimVenues`) at
  `venue_endpoints(context.run_dir, venue)`. The exec factory needs no data client.
- **auto**: "process" when ``context.run_dir`` is set (in a supervisor's worker),
  else "embedded".
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import msgspec

from livenode.adapters.sim.config import SimDataClientConfig, SimExecClientConfig
from livenode.adapters.sim.data_client import SimDataClient
from livenode.adapters.sim.exec_client import SimExecClient
from livenode.engines.clients import ClientContext, ClientFactory, ServiceSpec
from livenode.model.identifiers import AccountId
from livenode.venues.sim.remote import RemoteSimVenue
from livenode.venues.sim.remote_protocol import READY_LINE, venue_endpoints
from livenode.venues.sim.venue import SimVenue

SERVER_MODULE = "livenode.venues.sim.server"


@dataclass
class SimVenues:
    """The sim venues of one node (``context.shared(SimVenues)``), by venue name:
    the in-process `SimVenue` or the process's `RemoteSimVenue` of a venue process."""

    venues: dict[str, SimVenue | RemoteSimVenue] = field(default_factory=dict)

    def get(self, venue: str) -> SimVenue | RemoteSimVenue | None:
        """The venue of this name, if a sim client of this node built it."""
        return self.venues.get(venue)


def resolve_venue_mode(mode: str, run_dir: str | None) -> str:
    """"embedded" or "process": "auto" is "process" under a supervisor (``run_dir`` set)."""
    if mode == "auto":
        return "process" if run_dir is not None else "embedded"
    return mode


def _remote_venue(
    who: str, venue: str, timeout: float, context: ClientContext
) -> RemoteSimVenue:
    """The process's one `RemoteSimVenue` of `venue`, built on first use."""
    venues = context.shared(SimVenues)
    existing = venues.get(venue)
    if isinstance(existing, RemoteSimVenue):
        return existing
    if existing is not None:
        raise ValueError(
            f"{who}: venue {venue!r} is embedded in this process (another sim client has "
            "venue_mode 'embedded'); give the sim data and exec clients the same venue_mode"
        )
    run_dir = context.run_dir
    if run_dir is None:
        raise LookupError(
            f"{who}: venue_mode 'process' needs context.run_dir (the supervisor's run "
            "directory, where the venue process binds its sockets)"
        )
    cmd, md = venue_endpoints(run_dir, venue)
    remote = RemoteSimVenue(venue, cmd, md, context.loop, context.clock, timeout=timeout)
    venues.venues[venue] = remote
    return remote


class SimDataClientFactory(ClientFactory):
    """Builds the venue (or its remote proxy) once per process and a `SimDataClient`."""

    config_type: ClassVar[type] = SimDataClientConfig

    @staticmethod
    def create(name: str, config: SimDataClientConfig, context: ClientContext) -> SimDataClient:
        if resolve_venue_mode(config.venue_mode, context.run_dir) == "process":
            who = f"sim data client {name!r}"
            remote = _remote_venue(who, config.venue, config.connect_timeout, context)
            return SimDataClient(name, remote, context)
        venues = context.shared(SimVenues)
        venue = venues.get(config.venue)
        if isinstance(venue, RemoteSimVenue):
            raise ValueError(
                f"sim data client {name!r}: venue {config.venue!r} runs as a process here "
                "(another sim client has venue_mode 'process'); use the same venue_mode"
            )
        if venue is None:
            venue = SimVenue(config.venue_config, context.loop, context.clock, config.venue)
            venues.venues[config.venue] = venue
        return SimDataClient(name, venue, context)

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
    """Builds a `SimExecClient` on the process's sim venue (embedded or remote)."""

    config_type: ClassVar[type] = SimExecClientConfig

    @staticmethod
    def create(name: str, config: SimExecClientConfig, context: ClientContext) -> SimExecClient:
        account_id = None if config.account_id is None else AccountId(config.account_id)
        if resolve_venue_mode(config.venue_mode, context.run_dir) == "process":
            who = f"sim exec client {name!r}"
            remote = _remote_venue(who, config.venue, config.connect_timeout, context)
            # The account id is checked at connect, when the venue process tells it.
            return SimExecClient(name, remote, context, account_id, config.max_latency_samples)
        venue = context.shared(SimVenues).get(config.venue)
        if venue is None:
            raise LookupError(
                f"sim exec client {name!r}: no sim venue {config.venue!r} in this node; "
                f"configure a data client with factory "
                f"'livenode.adapters.sim:SimDataClientFactory' and venue = {config.venue!r} "
                "(it builds the venue; data clients are built before exec clients)"
            )
        if isinstance(venue, RemoteSimVenue):
            raise ValueError(
                f"sim exec client {name!r}: venue {config.venue!r} runs as a process here "
                "(the sim data client has venue_mode 'process'); use the same venue_mode"
            )
        if account_id is not None and account_id != venue.account_id:
            raise ValueError(
                f"sim exec client {name!r}: account_id {config.account_id!r} differs from "
                f"the venue's account {venue.account_id} (set venue_config.account_id on "
                "the data client instead)"
            )
        return SimExecClient(name, venue, context, account_id, config.max_latency_samples)
