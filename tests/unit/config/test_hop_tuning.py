"""The message bus's hop tuning switches: stage trace, wait strategy, yield after send."""

from __future__ import annotations

import pytest

from livenode.config import load_config_str
from livenode.config.errors import ConfigError


@pytest.mark.parametrize(("line", "message"), [
    ('wait = "busy"', 'message_bus.wait: expected one of "block", "spin", got "busy"'),
    ("spin_us = 0", "message_bus.spin_us: expected number > 0, got 0"),
    ("stage_trace_every = -1", "message_bus.stage_trace_every: expected int >= 0, got -1"),
    ("yield_after_send = 2", "message_bus.yield_after_send: expected bool, got 2"),
])
def test_hop_tuning_switches_are_validated(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_str(f"[message_bus]\n{line}\n")
    assert message in str(err.value)


def test_hop_tuning_defaults_block_without_tracing() -> None:
    bus = load_config_str("").message_bus
    assert (bus.wait, bus.stage_trace_every, bus.yield_after_send) == ("block", 0, False)
    spin = load_config_str('[message_bus]\nwait = "spin"\nspin_us = 50\n').message_bus
    assert (spin.wait, spin.spin_us) == ("spin", 50.0)
