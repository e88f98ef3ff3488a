"""FIX client config: per-field validation, and the CLI's exit 2 naming the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from livenode.adapters.fix.config import FixExecClientConfig
from livenode.config import ConfigError, load_config_str

ROOT = Path(__file__).resolve().parents[4]
GOOD = {"sender_comp_id": "NODE", "target_comp_id": "VENUE", "port": 9876}


def _toml(**fields: object) -> str:
    body = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("True", "true")
                     .replace("False", "false") for k, v in {**GOOD, **fields}.items())
    return f"""trader_id = "T-001"
[exec_clients.FIX]
factory = "livenode.adapters.fix:FixExecClientFactory"
[exec_clients.FIX.config]
{body}
"""


def test_defaults_and_a_good_config() -> None:
    config = msgspec.convert(GOOD, FixExecClientConfig)
    assert (config.host, config.heartbeat, config.reset_on_logon, config.tls) == \
        ("127.0.0.1", 30, False, False)
    load_config_str(_toml(heartbeat=10, reset_on_logon=True, username_env="FIX_USER"), "toml")


@pytest.mark.parametrize(("fields", "message"), [
    ({"port": 0}, "exec_clients.FIX.config.port: expected 1..65535, got 0"),
    ({"heartbeat": 0}, "exec_clients.FIX.config.heartbeat: expected 1..3600 seconds, got 0"),
    ({"sender_comp_id": "a b"}, "exec_clients.FIX.config.sender_comp_id: expected 1-64"),
    ({"target_comp_id": ""}, "exec_clients.FIX.config.target_comp_id: expected 1-64"),
    ({"password_env": "not-a-name"}, "exec_clients.FIX.config.password_env: expected an"),
    ({"tls_ca_file": "ca.pem"}, "exec_clients.FIX.config.tls_ca_file: set, but tls is false"),
    ({"balances": ["lots USDT"]}, "exec_clients.FIX.config.balances[0]: expected"),
    ({"reset_on_logon": "yes"}, "exec_clients.FIX.config.reset_on_logon"),
    ({"hostt": "x"}, "hostt"),
])
def test_a_bad_value_names_the_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_str(_toml(**fields), "toml")
    assert message in str(err.value)


def test_the_cli_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "fix.toml"
    path.write_text(_toml(port=70000))
    result = subprocess.run([sys.executable, "-m", "livenode", "run", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "exec_clients.FIX.config.port: expected 1..65535, got 70000" in result.stderr


def test_the_sandbox_config_loads() -> None:
    load_config_str((ROOT / "configs" / "fix-sandbox.toml").read_text(), "toml")
