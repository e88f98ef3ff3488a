"""`livenode config validate` (a real subprocess) on the tcp bus's security rules,
and `livenode keys generate`."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from livenode.config import load_config_str
from livenode.supervisor.bus_security import warn_if_insecure

from .conftest import CONFIGS

ROOT = Path(__file__).resolve().parents[3]


def livenode(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livenode", *map(str, args)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def tcp_config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "tcp.toml"
    path.write_text(f'trader_id = "TCP-001"\n[message_bus]\ntransport = "tcp"\n{extra}')
    return path


def test_tcp_without_keys_is_refused_naming_the_field() -> None:
    result = livenode("config", "validate", CONFIGS / "bad" / "tcp_without_keys.toml")
    assert result.returncode == 2, result
    assert "message_bus.curve_keys_dir" in result.stderr
    assert "insecure_tcp" in result.stderr
    assert result.stdout == ""


def test_tcp_insecure_is_accepted() -> None:
    result = livenode("config", "validate", CONFIGS / "good" / "tcp_insecure.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def test_unresolvable_tcp_host_is_refused_naming_the_field(tmp_path: Path) -> None:
    result = livenode("config", "validate", CONFIGS / "bad" / "tcp_host_unresolvable.toml")
    assert result.returncode == 2, result
    assert "message_bus.tcp_host" in result.stderr
    assert '"no-such-host.invalid"' in result.stderr


def test_keys_generate_then_validate_then_refuse_overwrite(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    result = livenode("keys", "generate", keys)
    assert result.returncode == 0, result.stderr
    for name in ("server.key", "server.key_secret", "client.key", "client.key_secret"):
        assert f"wrote {keys / name}" in result.stdout
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "server.key_secret").stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "client.key_secret").stat().st_mode) == 0o600
    secret = (keys / "server.key_secret").read_bytes()

    config = tcp_config(tmp_path, f'curve_keys_dir = "{keys}"\n')
    assert livenode("config", "validate", config).returncode == 0

    again = livenode("keys", "generate", keys)
    assert again.returncode == 1
    assert "--force" in again.stderr
    assert (keys / "server.key_secret").read_bytes() == secret
    forced = livenode("keys", "generate", keys, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (keys / "server.key_secret").read_bytes() != secret


def test_incomplete_key_directory_is_refused_naming_the_field(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert livenode("keys", "generate", keys).returncode == 0
    (keys / "client.key_secret").unlink()
    result = livenode("config", "validate", tcp_config(tmp_path, f'curve_keys_dir = "{keys}"\n'))
    assert result.returncode == 2
    assert "message_bus.curve_keys_dir" in result.stderr
    assert "client.key_secret not found" in result.stderr


def test_ip_literals_and_localhost_are_accepted_without_keys_on_ipc() -> None:
    for host in ("127.0.0.1", "::1", "0.0.0.0", "localhost"):
        assert load_config_str(f'[message_bus]\ntcp_host = "{host}"\n').message_bus.tcp_host == host


def test_insecure_tcp_warns(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("livenode.test")
    insecure = load_config_str('[message_bus]\ntransport = "tcp"\ninsecure_tcp = true\n')
    with caplog.at_level(logging.WARNING, logger="livenode.test"):
        assert warn_if_insecure(insecure.message_bus, log)
        assert not warn_if_insecure(load_config_str("").message_bus, log)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "UNAUTHENTICATED" in caplog.records[0].getMessage()



@pytest.mark.parametrize("where", ["keys", "authorized_clients"])
def test_a_key_directory_others_may_write_is_refused(tmp_path: Path, where: str) -> None:
    """Issue 18: a key directory or `authorized_clients/` at 0777 was accepted: anyone
    could plant a key there and read the whole bus."""
    keys = tmp_path / "keys"
    assert livenode("keys", "generate", keys).returncode == 0
    folder = keys if where == "keys" else keys / "authorized_clients"
    folder.chmod(0o777)
    result = livenode("config", "validate", tcp_config(tmp_path, f'curve_keys_dir = "{keys}"\n'))
    assert result.returncode == 2, result
    assert "message_bus.curve_keys_dir" in result.stderr
    assert f"{folder} is writable by other users (mode 0777)" in result.stderr
    assert f"chmod 700 {folder}" in result.stderr


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root "
                    "(the CI runs as root)")
def test_another_users_key_in_authorized_clients_is_refused(tmp_path: Path) -> None:
    """Issue 18: another local user copied its own public key into a world-writable
    `authorized_clients/` and then read every quote, order and fill. Even with the
    directory closed again, a key file another user owns is refused."""
    keys = tmp_path / "keys"
    assert livenode("keys", "generate", keys).returncode == 0
    theirs = tmp_path / "theirs"
    assert livenode("keys", "generate", theirs).returncode == 0
    planted = keys / "authorized_clients" / "intruder.key"
    planted.write_bytes((theirs / "client.key").read_bytes())
    os.chown(planted, 65534, 65534)  # nobody
    result = livenode("config", "validate", tcp_config(tmp_path, f'curve_keys_dir = "{keys}"\n'))
    assert result.returncode == 2, result
    assert f"{planted} is owned by uid 65534, not by this user" in result.stderr


@pytest.mark.parametrize(("host", "says"), [
    ("8.8.8.8", 'cannot bind "8.8.8.8"'),
    ("::1", "the tcp bus binds IPv4 only"),
])
def test_a_tcp_host_the_bus_cannot_bind_is_refused_at_validate(
    tmp_path: Path, host: str, says: str
) -> None:
    """Issue 18: these passed `config validate`; `run` then logged tracebacks and waited
    out the whole start timeout ("worker(s) not READY")."""
    config = tcp_config(tmp_path, f'insecure_tcp = true\ntcp_host = "{host}"\n')
    result = livenode("config", "validate", config)
    assert result.returncode == 2, result
    assert "message_bus.tcp_host" in result.stderr and says in result.stderr, result.stderr
    fine = tcp_config(tmp_path, 'insecure_tcp = true\ntcp_host = "127.0.0.1"\n')
    assert livenode("config", "validate", fine).returncode == 0
