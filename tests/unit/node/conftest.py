"""Fixtures of the node tests: configs built from the repository's files and text."""

from __future__ import annotations

from pathlib import Path

import pytest

from livenode.config import TradingNodeConfig, load_config, load_config_str

ROOT = Path(__file__).resolve().parents[3]
SANDBOX = ROOT / "configs" / "sandbox.toml"
FIXTURE_CLIENTS = "tests.fixtures.node.clients"


@pytest.fixture
def sandbox_config() -> TradingNodeConfig:
    """configs/sandbox.toml: the sim venue, two instruments, both example strategies."""
    return load_config(SANDBOX)


def fixture_client_config(
    factory: str, *, connection: float = 1.0, **extra: str
) -> TradingNodeConfig:
    """A node with one fixture data client (`factory` is a class name in the fixtures)."""
    lines = [
        'trader_id = "TEST-001"',
        "[timeouts]",
        f"connection = {connection}",
        "disconnection = 2.0",
        "post_stop = 1.0",
        "shutdown = 5.0",
        "[data_clients.SLOW]",
        f'factory = "{FIXTURE_CLIENTS}:{factory}"',
        "[data_clients.SLOW.config]",
        'venue = "SLOW"',
    ]
    return load_config_str("\n".join(lines), "toml")


@pytest.fixture
def empty_config() -> TradingNodeConfig:
    """A node with no clients and no strategies: starts at once, trades nothing."""
    return load_config_str('trader_id = "EMPTY-001"\n', "toml")
