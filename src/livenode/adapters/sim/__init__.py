"""The embedded simulated venue and its data/execution clients.

Configs name the factories as ``"livenode.adapters.sim:SimDataClientFactory"``
and ``"livenode.adapters.sim:SimExecClientFactory"``; see `config` for the
fields and ``docs/sim-venue.md`` for the venue's behaviour.
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
from livenode.adapters.sim.factories import SimDataClientFactory, SimExecClientFactory
from livenode.adapters.sim.venue import SimVenue

__all__ = [
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
]
