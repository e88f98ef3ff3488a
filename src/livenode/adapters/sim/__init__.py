"""The sim adapter: data and execution clients of the simulated exchange.

Configs name the factories as ``"livenode.adapters.sim:SimDataClientFactory"``
and ``"livenode.adapters.sim:SimExecClientFactory"``; see `config` for the
fields. The exchange itself (matching, market, account, its server process) is
`livenode.venues.sim`; see ``docs/sim-venue.md``.
"""

from livenode.adapters.sim.config import SimDataClientConfig, SimExecClientConfig
from livenode.adapters.sim.data_client import SimDataClient
from livenode.adapters.sim.exec_client import SimExecClient
from livenode.adapters.sim.factories import SimDataClientFactory, SimExecClientFactory, SimVenues

__all__ = [
    "SimDataClient",
    "SimDataClientConfig",
    "SimDataClientFactory",
    "SimExecClient",
    "SimExecClientConfig",
    "SimExecClientFactory",
    "SimVenues",
]
