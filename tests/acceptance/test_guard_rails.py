"""Guard rails (issue 10, section 5): one node per trader id and instance, and
`status` / `stop` that can choose among several nodes of one trader id.

Every test runs under the `mp` harness: nothing may be left behind.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.acceptance.helpers import ROOT, SANDBOX
from tests.fixtures.multiprocess.harness import (
    MultiprocessHarness,
    mp,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.slow

SANDBOX_MP = ROOT / "configs" / "sandbox-multiprocess.toml"


def _config(tmp_path: Path, source: Path, trader: str, instance: str) -> Path:
    text = source.read_text().replace(
        'trader_id = "SANDBOX-001"', f'trader_id = "{trader}"\ninstance_id = "{instance}"'
    )
    assert f'instance_id = "{instance}"' in text
    path = tmp_path / f"{trader}-{instance}.toml"
    path.write_text(text)
    return path


def test_a_second_single_node_of_the_same_instance_is_refused_and_status_stop_choose_by_instance(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    trader = "GUARD-001"
    one = _config(tmp_path, SANDBOX, trader, "one")
    first = mp.start("run", one)
    first.wait_for_line(r"^running", timeout=60)

    second = mp.start("run", one)
    assert second.wait(timeout=60) == 1, second.output()
    assert "already running" in second.stderr(), second.output()
    assert f"pid {first.proc.pid}" in second.stderr(), second.output()
    assert "Traceback" not in second.stderr()
    assert first.proc.poll() is None, "the refused node disturbed the running one"
    # The running node's run directory and shared memory are untouched.
    status = mp.status(trader)
    assert status["instance_id"] == "one" and status["market"] is not None

    # A second node of the trader id runs only when asked (both trade one account).
    other = mp.start("run", _config(tmp_path, SANDBOX, trader, "two"), "--allow-second-node")
    other.wait_for_line(r"^running", timeout=60)
    several = mp.cli("status", "--trader", trader)
    assert several.returncode == 1
    assert "several nodes are running" in several.stderr and "--instance" in several.stderr
    assert f"pid {first.proc.pid}" in several.stderr and f"pid {other.proc.pid}" in several.stderr

    chosen = mp.cli("status", "--json", "--trader", trader, "--instance", "two")
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["instance_id"] == "two"
    by_instance = mp.cli("status", "--json", "--instance", "one")
    assert by_instance.returncode == 0, by_instance.stderr
    assert json.loads(by_instance.stdout)["instance_id"] == "one"
    missing = mp.cli("status", "--instance", "three")
    assert missing.returncode == 3 and "instance three" in missing.stderr

    stopped = mp.cli("stop", "--trader", trader, "--instance", "one")
    assert stopped.returncode == 0, stopped.stderr
    assert first.wait(timeout=60) == 0, first.output()
    assert other.proc.poll() is None, "stop --instance one stopped the other node"
    assert mp.cli("stop", "--instance", "two").returncode == 0
    assert other.wait(timeout=60) == 0, other.output()


def test_a_second_multiprocess_node_of_the_same_instance_is_refused(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    trader = "GUARDMP-001"
    config = _config(tmp_path, SANDBOX_MP, trader, "one")
    first = mp.start("run", config)
    first.wait_for_line(r"^node \S+ RUNNING", timeout=90)

    second = mp.start("run", config)
    assert second.wait(timeout=60) == 1, second.output()
    assert "already running" in second.stderr(), second.output()
    assert f"pid {first.proc.pid}" in second.stderr(), second.output()
    assert "Traceback" not in second.stderr()

    status = mp.status(trader)  # the first still answers: its control socket is intact
    assert status["instance_id"] == "one" and status["supervisor_pid"] == first.proc.pid
    assert mp.cli("stop", "--instance", "one").returncode == 0
    assert first.wait(timeout=90) == 0, first.output()


def test_a_config_without_trader_id_says_so_in_the_startup_summary(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    """A missing trader_id is allowed (many embedded configs rely on it) but no longer
    silent: the startup summary names the default it runs as."""
    text = SANDBOX.read_text().replace('trader_id = "SANDBOX-001"\n', "")
    assert "trader_id" not in text
    config = tmp_path / "no-trader.toml"
    config.write_text(text)
    node = mp.start("run", config)
    node.wait_for_line(
        r"^  trader +TRADER-001 \(the default: the config sets no trader_id\)$", timeout=60
    )
    node.wait_for_line(r"^running", timeout=60)
    node.send(signal.SIGINT)
    assert node.wait(timeout=60) == 0, node.output()
    assert "no trader_id in" in node.stderr()


@pytest.mark.skipif(os.getuid() != 0, reason="a segment of another user needs root to make "
                    "(the CI runs as root)")
def test_a_shared_memory_name_taken_by_another_user_is_refused_plainly(
    mp: MultiprocessHarness, tmp_path: Path  # noqa: F811
) -> None:
    """Issue 18: a `/dev/shm` name another user took first was refused with a traceback
    and a `livenode clean` hint that answered "nothing to clean"."""
    from livenode.cache.shm import TABLE_KINDS, segment_name, segment_prefix

    prefix = segment_prefix("SHMTAKEN-001", "one")
    taken = [Path("/dev/shm") / segment_name(prefix, kind) for kind in TABLE_KINDS]
    try:
        for path in taken:
            path.write_bytes(b"theirs")
            os.chown(path, 65534, 65534)  # nobody
        node = mp.start("run", _config(tmp_path, SANDBOX, "SHMTAKEN-001", "one"))
        assert node.wait(timeout=60) == 1, node.output()
        stderr = node.stderr()
        assert "belongs to another user (uid 65534)" in stderr, stderr
        assert "another instance_id" in stderr and "Traceback" not in stderr, stderr
        assert all(path.read_bytes() == b"theirs" for path in taken)  # untouched
    finally:
        for path in taken:
            path.unlink(missing_ok=True)
