"""`SimVenues`: the sim venues of one node, shared by its sim clients.

Both sim factories find the node's venue of a name in ``context.shared(SimVenues)``
and whichever comes first builds it:

- **process** mode: a `RemoteSimVenue` (one per process) at
  `venue_endpoints(context.run_dir, venue)`, built by either factory;
- **embedded** mode: a `SimVenue`, built by the data client's factory, the one that
  holds the venue's config (``venue_config``). An exec client created before it gets
  a `PendingSimVenue` and takes the venue when it connects, so the node may create
  and connect its clients in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livenode.engines.clients import ClientContext
from livenode.venues.sim.api import SimVenueAPI
from livenode.venues.sim.config import SimVenueConfig
from livenode.venues.sim.remote import RemoteSimVenue
from livenode.venues.sim.remote_protocol import venue_endpoints
from livenode.venues.sim.venue import SimVenue

__all__ = ["PendingSimVenue", "SimVenues", "resolve_venue_mode"]

_SAME_MODE = "give the sim data and exec clients the same venue_mode"


def resolve_venue_mode(mode: str, run_dir: str | None) -> str:
    """"embedded" or "process": "auto" is "process" under a supervisor (``run_dir`` set)."""
    if mode == "auto":
        return "process" if run_dir is not None else "embedded"
    return mode


@dataclass
class SimVenues:
    """The sim venues of one node (``context.shared(SimVenues)``), by venue name:
    the in-process `SimVenue` or the process's `RemoteSimVenue` of a venue process."""

    venues: dict[str, SimVenueAPI] = field(default_factory=dict)

    def get(self, venue: str) -> SimVenueAPI | None:
        """The venue of this name, if a sim client of this node built it."""
        return self.venues.get(venue)

    def embedded(
        self, who: str, venue: str, config: SimVenueConfig, context: ClientContext
    ) -> SimVenue:
        """The node's in-process venue of `venue`, built from `config` on first use."""
        existing = self.venues.get(venue)
        if existing is None:
            built = SimVenue(config, context.loop, context.clock, venue)
            self.venues[venue] = built
            return built
        if not isinstance(existing, SimVenue):
            raise ValueError(
                f"{who}: venue {venue!r} runs as a process here (another sim client has "
                f"venue_mode 'process'); {_SAME_MODE}"
            )
        return existing

    def remote(
        self, who: str, venue: str, timeout: float, context: ClientContext
    ) -> RemoteSimVenue:
        """The process's one `RemoteSimVenue` of `venue`, built on first use."""
        existing = self.venues.get(venue)
        if isinstance(existing, RemoteSimVenue):
            return existing
        if existing is not None:
            raise ValueError(
                f"{who}: venue {venue!r} is embedded in this process (another sim client has "
                f"venue_mode 'embedded'); {_SAME_MODE}"
            )
        run_dir = context.run_dir
        if run_dir is None:
            raise LookupError(
                f"{who}: venue_mode 'process' needs context.run_dir (the supervisor's run "
                "directory, where the venue process binds its sockets)"
            )
        cmd, md = venue_endpoints(run_dir, venue)
        remote = RemoteSimVenue(venue, cmd, md, context.loop, context.clock, timeout=timeout)
        self.venues[venue] = remote
        return remote


@dataclass(frozen=True)
class PendingSimVenue:
    """An embedded venue the node has not built yet: the sim data client that configures
    it is created after the exec client that needs it. `resolve` takes it at connect."""

    venues: SimVenues
    venue: str
    who: str

    def resolve(self) -> SimVenue:
        """The venue, now built by the data client's factory.

        Raises:
            LookupError: no sim data client of this node configures the venue.
            ValueError: the venue runs as a process here (mixed venue modes).
        """
        found = self.venues.get(self.venue)
        if found is None:
            raise LookupError(
                f"{self.who}: no sim venue {self.venue!r} in this node; configure a data "
                "client with factory 'livenode.adapters.sim:SimDataClientFactory' and "
                f"venue = {self.venue!r} (its venue_config sets the venue up)"
            )
        if not isinstance(found, SimVenue):
            raise ValueError(
                f"{self.who}: venue {self.venue!r} runs as a process here (the sim data "
                f"client has venue_mode 'process'); {_SAME_MODE}"
            )
        return found
