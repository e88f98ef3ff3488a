"""The simulated exchange: matching, market (random walk, replay), account, state store.

`SimVenue` runs in the node's process; `SimVenueServer` (``python -m
livenode.venues.sim.server``) serves one in a process of its own, reached through
`RemoteSimVenue` over the protocol of `remote_protocol`. Both implement
`SimVenueAPI` (`api`), the one interface the sim clients of
`livenode.adapters.sim` use. The server module is not imported here so that
running it with ``-m`` does not import it twice. See ``docs/sim-venue.md``.
"""

from livenode.venues.sim.config import SimFeedConfig, SimInstrumentConfig, SimVenueConfig
from livenode.venues.sim.remote import RemoteSimVenue, SimVenueUnavailable
from livenode.venues.sim.remote_protocol import venue_endpoints
from livenode.venues.sim.venue import SimVenue

__all__ = [
    "RemoteSimVenue",
    "SimFeedConfig",
    "SimInstrumentConfig",
    "SimVenue",
    "SimVenueConfig",
    "SimVenueUnavailable",
    "venue_endpoints",
]
