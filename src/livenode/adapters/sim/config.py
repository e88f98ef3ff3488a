"""Configuration of the two sim clients (the venue's own config is `livenode.venues.sim.config`).

The venue is configured in one place, the data client's config
(`SimDataClientConfig.venue_config`): the data client factory builds the venue,
the execution client factory finds it by venue name. A sandbox TOML:

```toml
[data_clients.SIM]
factory = "livenode.adapters.sim:SimDataClientFactory"
[data_clients.SIM.config]
venue = "SIM"
[data_clients.SIM.config.venue_config]
starting_balances = ["1000000 USDT", "10 BTC"]
ack_latency_ms = 0.0
fill_latency_ms = 0.0
[data_clients.SIM.config.venue_config.feed]
mode = "random_walk"
rate_per_second = 100.0
seed = 42
[[data_clients.SIM.config.venue_config.instruments]]
symbol = "BTCUSDT"
kind = "spot"
base = "BTC"
quote = "USDT"
[[data_clients.SIM.config.venue_config.instruments]]
symbol = "ETHUSDT-PERP"
kind = "perpetual"
base = "ETH"
quote = "USDT"
start_price = "3000"
size_precision = 3
size_increment = "0.001"
min_quantity = "0.001"

[exec_clients.SIM]
factory = "livenode.adapters.sim:SimExecClientFactory"
[exec_clients.SIM.config]
venue = "SIM"
```

``venue_mode`` (both clients, default "auto") picks where the venue runs: in the
node's process, or as a venue process of its own that the supervisor starts in
multiprocess mode (see ``docs/sim-venue.md``, "Venue process").
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from livenode.venues.sim.config import Positive, SimVenueConfig

__all__ = ["SimDataClientConfig", "SimExecClientConfig", "VenueMode"]


#: Where the venue runs: "embedded" in the node's process, "process" as a venue
#: process of its own (started by the supervisor, reached over ZeroMQ), "auto":
#: "process" when the node runs under a supervisor (``ClientContext.run_dir`` is
#: set), else "embedded".
VenueMode = Literal["auto", "embedded", "process"]


class SimDataClientConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The sim data client; its ``venue_config`` is the single place the venue is set up.

    ``connect_timeout`` (seconds) bounds the first answer of a venue process.
    """

    venue: str = "SIM"
    venue_config: SimVenueConfig = msgspec.field(default_factory=SimVenueConfig)
    venue_mode: VenueMode = "auto"
    connect_timeout: Positive = 5.0
    # When the venue runs as a process: what the supervisor does when it dies.
    # "restart" needs venue_config.state_path (a venue that forgot its orders would
    # come back with the wrong book); its clients then reconnect and reconcile.
    venue_on_exit: Literal["restart", "stop"] = "stop"

    def __post_init__(self) -> None:
        if self.venue_on_exit == "restart" and self.venue_config.state_path is None:
            raise ValueError(
                'venue_on_exit: "restart" needs venue_config.state_path, the file where the '
                "venue keeps its orders across restarts"
            )


class SimExecClientConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The sim execution client: which venue (built by the data client) and account id.

    In "process" mode the venue is a process of its own and no data client is
    needed in this process; ``connect_timeout`` bounds its first answer.
    """

    venue: str = "SIM"
    account_id: str | None = None
    max_latency_samples: Annotated[int, msgspec.Meta(ge=1)] = 100_000
    venue_mode: VenueMode = "auto"
    connect_timeout: Positive = 5.0
