"""Shared fixtures of the config tests."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "fixtures" / "configs"
HELPERS = "tests.unit.config.helpers"


@pytest.fixture
def configs_dir() -> Path:
    """tests/fixtures/configs (good/ and bad/ config files)."""
    return CONFIGS
