"""A multiprocess exec worker routes commands by venue: a client named otherwise is refused.

In one process the execution engine routes by client id; a worker of a multiprocess
node receives `commands.exec.{member}` for the exec clients it hosts, so a client whose
name is not its venue would never see a command.
The kernel refuses it at build with a message naming the client and the venue.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from livenode.adapters.fix import FixExecClientConfig, FixExecClientFactory
from livenode.config import load_config_str
from livenode.node.kernel import Kernel

DOCUMENT = {"trader_id": "NAMES-001", "mode": "multiprocess", "environment": "sandbox",
            "timeouts": {"shutdown": 40}}


def _client(kernel: Kernel, name: str) -> object:
    config = FixExecClientConfig(venue="FIX", sender_comp_id="NODE", target_comp_id="VENUE",
                                 port=9876)
    return FixExecClientFactory.create(name, config, kernel.context)


async def test_a_worker_refuses_an_exec_client_not_named_after_its_venue(
    tmp_path: Path,
) -> None:
    config = load_config_str(json.dumps(DOCUMENT), "json")
    kernel = Kernel(config, asyncio.get_running_loop(), roles=["exec"], run_dir=str(tmp_path))
    try:
        with pytest.raises(ValueError, match=r"exec_clients.FIX_B: serves venue FIX; in "
                                             r"multiprocess mode an exec client must be named "
                                             r"after its venue"):
            kernel.add_exec_client(_client(kernel, "FIX_B"))  # type: ignore[arg-type]
        kernel.add_exec_client(_client(kernel, "FIX"))  # type: ignore[arg-type]
        assert list(kernel.exec_clients) == ["FIX"]
    finally:
        kernel.dispose()
