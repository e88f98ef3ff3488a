"""Every supervisor test runs under the multiprocess harness: its own run base, and
a teardown that fails the test if a process, a run directory or a shared-memory
segment is left behind (see tests/fixtures/multiprocess/harness.py)."""

from __future__ import annotations

import pytest
from tests.fixtures.multiprocess.harness import MultiprocessHarness, mp  # noqa: F401


@pytest.fixture(autouse=True)
def _nothing_left_behind(mp: MultiprocessHarness) -> None:  # noqa: F811
    """Autouse: request the harness, whose teardown does the checking."""
