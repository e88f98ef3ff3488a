"""A node-side exec client in a process of its own, to be killed -9 by the test.

``python tests/integration/sim/crash_client.py RUN_DIR PRICE``: connects a sim
exec client in "process" mode, places a resting BUY limit at PRICE, prints
``placed <client_order_id>`` once the venue accepted it, then waits forever.
"""

from __future__ import annotations

import asyncio
import sys

from tests.unit.adapters.sim_helpers import Recorder, submit

from livenode.adapters.sim import SimExecClientConfig, SimExecClientFactory
from livenode.bus.message_bus import MessageBus
from livenode.cache.cache import Cache
from livenode.core.clock import LiveClock
from livenode.engines.clients import EXEC_ENGINE_PROCESS, ClientContext
from livenode.model.events import OrderAccepted
from livenode.model.identifiers import TraderId


async def main(run_dir: str, price: str) -> None:
    loop = asyncio.get_running_loop()
    clock = LiveClock(loop)
    msgbus = MessageBus(TraderId("TESTER-001"), clock)
    context = ClientContext(loop=loop, msgbus=msgbus, cache=Cache(), clock=clock,
                            run_dir=run_dir)
    events = Recorder()
    msgbus.register(EXEC_ENGINE_PROCESS, events)
    client = SimExecClientFactory.create("SIM", SimExecClientConfig(), context)
    await client.connect()
    cmd = submit("BUY", "LIMIT", "0.1", price=price)
    client.submit_order(cmd)
    await events.wait_type(OrderAccepted, timeout=10)
    print(f"placed {cmd.order.client_order_id}", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
