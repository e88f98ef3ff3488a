"""The simulated venue and its data/execution clients.

Configs name the factories as ``"livenode.adapters.sim:SimDataClientFactory"``
and ``"livenode.adapters.sim:SimExecClientFactory"``; see `config` for the
fields and ``docs/sim-venue.md`` for the venue's behaviour. The venue runs in the
node's process or as a process of its own (``python -m livenode.adapters.sim.server``,
reached through `RemoteSimVenue`); the server module is not imported here so
that running it with ``-m`` does not import it twice.
"""

from livenode.adapters.sim.config import (
    SimDataClientConfig,
    SimExecClientConfig,
    SimFeedConfig,
    SimInstrumentConfig,
    SimVenueConfig,
)
from livenode.adapters.sim.data_client import SimDataClient
from livenode.adapters.sim.exec_client import SimExecClient
from livenode.adapters.sim.factories import (
    SimDataClientFactory,
    SimExecClientFactory,
    SimVenues,
    venue_endpoints,
)
from livenode.adapters.sim.remote import RemoteSimVenue, SimVenueUnavailable
from livenode.adapters.sim.venue import SimVenue

__all__ = [
    "RemoteSimVenue",
    "SimDataClient",
    "SimDataClientConfig",
    "SimDataClientFactory",
    "SimExecClient",
    "SimExecClientConfig",
    "SimExecClientFactory",
    "SimFeedConfig",
    "SimInstrumentConfig",
    "SimVenue",
    "SimVenueConfig",
    "SimVenueUnavailable",
    "SimVenues",
    "venue_endpoints",
]
