"""CURVE on the tcp bus, over real sockets: key files, delivery, and refusal of
subscribers whose client key the node did not authorise."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from livenode.bus.curve import (
    CurveKeyError,
    CurveKeys,
    generate_keys,
    key_paths,
    load_keys,
)
from livenode.bus.zmq_transport import ZmqPublisher, ZmqSubscriber


class Ping(msgspec.Struct, frozen=True, array_like=True):
    n: int


def encode(msg: Any) -> bytes:
    return msgspec.msgpack.encode(msg)


def decode(data: bytes) -> Ping:
    return msgspec.msgpack.decode(data, type=Ping)


class Collector:
    """Records what a subscriber delivered; `event` is set on the first message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.event = asyncio.Event()

    def __call__(self, topic: str, msg: Any) -> None:
        self.messages.append((topic, msg))
        self.event.set()


@pytest.fixture
def keys(tmp_path: Path) -> CurveKeys:
    generate_keys(tmp_path / "node")
    return load_keys(tmp_path / "node")


@pytest.fixture
def foreign(tmp_path: Path, keys: CurveKeys) -> CurveKeys:
    """Another key pair, with the node's server public key: everything right but
    the client key, so only the ZAP handler can keep it out."""
    generate_keys(tmp_path / "foreign")
    other = load_keys(tmp_path / "foreign")
    return CurveKeys(
        server_public=keys.server_public,
        server_secret=b"",
        client_public=other.client_public,
        client_secret=other.client_secret,
        authorized_dir=other.authorized_dir,
    )


@pytest.fixture
def contexts() -> Iterator[tuple[zmq.Context[Any], zmq.Context[Any]]]:
    """The publisher's context and the subscribers' (as in two processes)."""
    pub_ctx: zmq.Context[Any] = zmq.Context()
    sub_ctx: zmq.Context[Any] = zmq.Context()
    yield pub_ctx, sub_ctx
    # term() hangs if a socket (or the ZAP handler's) was left open.
    sub_ctx.term()
    pub_ctx.term()


def test_generate_writes_private_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "keys"
    written = generate_keys(target)
    assert written == key_paths(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "authorized_clients").stat().st_mode) == 0o700
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.name.endswith("_secret"):
            assert mode == 0o600, path
        else:
            assert mode & 0o022 == 0, path  # public: nobody else may replace it
    before = {p: p.read_bytes() for p in written}
    with pytest.raises(CurveKeyError, match="--force"):
        generate_keys(target)
    assert {p: p.read_bytes() for p in written} == before
    generate_keys(target, force=True)
    assert (target / "server.key_secret").read_bytes() != before[target / "server.key_secret"]
    assert load_keys(target).server_secret  # the replaced keys load


def test_load_refuses_secret_readable_by_others(tmp_path: Path) -> None:
    generate_keys(tmp_path / "k")
    secret = tmp_path / "k" / "client.key_secret"
    secret.chmod(0o644)
    with pytest.raises(CurveKeyError, match="accessible by other users"):
        load_keys(tmp_path / "k")


def test_load_names_a_missing_file(tmp_path: Path) -> None:
    generate_keys(tmp_path / "k")
    (tmp_path / "k" / "server.key_secret").unlink()
    with pytest.raises(CurveKeyError, match=r"server\.key_secret not found"):
        load_keys(tmp_path / "k")


async def test_curve_delivers_to_the_node_and_refuses_a_foreign_client(
    contexts: tuple[zmq.Context[Any], zmq.Context[Any]], keys: CurveKeys, foreign: CurveKeys
) -> None:
    pub_ctx, sub_ctx = contexts
    loop = asyncio.get_running_loop()
    pub = ZmqPublisher(pub_ctx, "tcp://127.0.0.1:0", "pub-A", encode, loop, curve=keys)
    legit = Collector()
    intruder = Collector()
    plain = Collector()
    sub = ZmqSubscriber(sub_ctx, "sub-ok", decode, legit, loop, curve=keys)
    bad = ZmqSubscriber(sub_ctx, "sub-foreign", decode, intruder, loop, curve=foreign)
    # And one without CURVE at all (NULL mechanism): the server must refuse it too.
    null = ZmqSubscriber(sub_ctx, "sub-null", decode, plain, loop)
    try:
        assert pub.endpoint.startswith("tcp://127.0.0.1:")
        for subscriber in (bad, null, sub):
            subscriber.connect(pub.endpoint, ["events.order."])
        await sub.wait_joined(["pub-A"], timeout=30)
        for n in range(1, 11):
            assert pub.publish("events.order.S-1", Ping(n))
        await asyncio.wait_for(legit.event.wait(), 30)
        while len(legit.messages) < 10:
            legit.event.clear()
            await asyncio.wait_for(legit.event.wait(), 30)
        assert [m.n for _, m in legit.messages] == list(range(1, 11))
        # The legit subscriber got everything; give the others a bounded while
        # more (their handshakes were refused long ago), then nothing may be there.
        with pytest.raises(TimeoutError):
            await bad.wait_joined(["pub-A"], timeout=1.0)
        await asyncio.sleep(0.2)
        assert intruder.messages == [] and bad.received == 0
        assert plain.messages == [] and null.received == 0
        assert "_hello.sub-foreign" not in pub.subscriptions
        assert "_hello.sub-null" not in pub.subscriptions
    finally:
        for closable in (sub, bad, null, pub):
            closable.close()
