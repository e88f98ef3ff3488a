"""`[metrics]`: defaults, and bad values named by their field (exit 2 from the CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livenode.config import ConfigError, load_config_str
from livenode.config.metrics import DEFAULT_METRICS_PORT

from .test_cli import run


def test_metrics_are_off_by_default_on_loopback() -> None:
    metrics = load_config_str("").metrics
    assert (metrics.enabled, metrics.host, metrics.port) == (
        False, "127.0.0.1", DEFAULT_METRICS_PORT)
    on = load_config_str('[metrics]\nenabled = true\nhost = "::1"\nport = 9100\n').metrics
    assert (on.enabled, on.host, on.port) == (True, "::1", 9100)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("port = 0", "metrics.port: expected int >= 1, got 0"),
        ("port = 70000", "metrics.port: expected int <= 65535, got 70000"),
        ('port = "9100"', 'metrics.port: expected int, got "9100"'),
        ('enabled = "yes"', 'metrics.enabled: expected bool, got "yes"'),
        ('host = ""', 'metrics.host: expected an IP address or a host name that resolves, '
                      'got "" (empty)'),
        ("enable = true", "metrics.enable: unknown field (allowed: enabled, host, port)"),
    ],
)
def test_a_bad_metrics_value_names_its_field(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_str(f"[metrics]\n{table}\n")
    assert str(info.value) == message


def test_validate_exits_2_naming_the_metrics_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "node.toml"
    path.write_text("[metrics]\nenabled = true\nport = 70000\n")
    assert run(["config", "validate", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: metrics.port: expected int <= 65535, got 70000\n")
