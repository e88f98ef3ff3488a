"""The FIX session layer against an in-test asyncio server.

NOT the real peer: this server is a few lines written with the codec, used only to send
what QuickFIX never would (garbled frames, bad fields, unknown MsgTypes) and to check
the session answers with Reject (35=3), counts, and keeps running. The real peer
(QuickFIX) is in tests/integration/adapters/fix.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from livenode.adapters.fix.codec import FixFramer, FixMessage, decode, encode
from livenode.adapters.fix.seqnums import FileSeqNumStore
from livenode.adapters.fix.session import FixSession, SessionSettings


class Server:
    """Accepts one session: answers the Logon, records what the client sends."""

    def __init__(self, logon_seq: int | None = None) -> None:
        self.logon_seq = logon_seq
        self.received: list[FixMessage] = []
        self.writer: asyncio.StreamWriter | None = None
        self.seq = 0
        self.logged_on = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        framer = FixFramer()
        while data := await reader.read(65536):
            framer.feed(data)
            while (raw := framer.next_message()) is not None:
                msg = decode(raw)
                self.received.append(msg)
                if msg.msg_type == "A":
                    self.send("A", [(98, "0"), (108, "30")], seq=self.logon_seq)
                    self.logged_on.set()

    def send(self, msg_type: str, fields: list[tuple[int, str]], seq: int | None = None) -> None:
        self.seq = self.seq + 1 if seq is None else seq
        self.send_raw(encode(msg_type, fields, [(49, "VENUE"), (56, "NODE"), (34, str(self.seq)),
                                                (52, "20261203-08:00:00.000")]))

    def send_raw(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)

    def of_type(self, msg_type: str) -> list[FixMessage]:
        return [m for m in self.received if m.msg_type == msg_type]


async def _until(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_malformed_and_unknown_messages_are_rejected_and_counted(tmp_path: Path) -> None:
    server = Server()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    app: list[FixMessage] = []
    store = FileSeqNumStore(tmp_path / "seq.json")
    session = FixSession(SessionSettings("NODE", "VENUE", "127.0.0.1", port, heartbeat=30),
                         store, on_message=app.append)
    session.start()
    try:
        assert await session.wait_in_sync(5)
        logon = server.of_type("A")[0]
        assert logon[108] == "30" and logon.seq_num == 1 and 141 not in logon
        # A garbled frame (bad CheckSum): dropped, counted, no sequence number consumed.
        good = encode("8", [(37, "X")], [(49, "VENUE"), (56, "NODE"), (34, "2"),
                                         (52, "20261203-08:00:00.000")])
        server.send_raw(good[:-4] + b"000\x01")
        # An unknown MsgType: Reject 35=3 with reason 11 naming tag 35.
        server.send("ZZ", [(58, "what")])
        # A field with an empty value (tag 58): Reject naming tag 58.
        server.send("8", [(58, ""), (37, "X")])
        # A TestRequest is answered by a Heartbeat carrying its TestReqID.
        server.send("1", [(112, "PING-1")])
        # An application message the owner gets.
        server.send("8", [(37, "V-1"), (17, "E-1")])
        await _until(lambda: len(app) == 1)
        await _until(lambda: len(server.of_type("3")) == 2 and len(server.of_type("0")) >= 1)
        rejects = server.of_type("3")
        assert (rejects[0][45], rejects[0][371], rejects[0][373]) == ("2", "35", "11")
        assert (rejects[1][45], rejects[1][371], rejects[1][373]) == ("3", "58", "4")
        assert server.of_type("0")[0][112] == "PING-1"
        assert session.counters["garbled"] == 1 and session.counters["rejects_sent"] == 2
        assert store.next_in == 6 and session.logged_on.is_set()
        # A gap: the session asks for a resend once, from the expected number on.
        server.send("8", [(37, "V-2"), (17, "E-9")], seq=9)
        await _until(lambda: len(server.of_type("2")) == 1)
        assert (server.of_type("2")[0][7], server.of_type("2")[0][16]) == ("6", "0")
        assert not session.in_sync.is_set()
        server.send("4", [(123, "Y"), (36, "10")], seq=6)
        await _until(lambda: session.in_sync.is_set())
        assert store.next_in == 10
        # A ResendRequest from the server: everything (admin only here) is gap-filled.
        server.send("2", [(7, "1"), (16, "0")], seq=10)
        await _until(lambda: len(server.of_type("4")) == 1)
        fill = server.of_type("4")[0]
        assert fill[123] == "Y" and fill.poss_dup and fill.seq_num == 1
    finally:
        await session.stop(timeout=0.2)
        srv.close()
        await srv.wait_closed()
    # The numbers survive: a new store on the same file continues from them.
    again = FileSeqNumStore(tmp_path / "seq.json")
    assert again.next_in == 11 and again.next_out == store.next_out > 5


async def test_reconnects_with_backoff_until_the_server_is_there(tmp_path: Path) -> None:
    server = Server()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    session = FixSession(
        SessionSettings("NODE", "VENUE", "127.0.0.1", port, heartbeat=30,
                        reset_on_logon=True, reconnect_initial=0.05, reconnect_max=0.2),
        FileSeqNumStore(tmp_path / "seq.json"), on_message=lambda m: None)
    session.start()
    try:
        await asyncio.sleep(0.5)
        assert not session.logged_on.is_set()
        srv = await asyncio.start_server(server.handle, "127.0.0.1", port)
        assert await session.wait_in_sync(5)
        assert server.of_type("A")[0][141] == "Y"
        session.drop()
        await _until(lambda: len(server.of_type("A")) == 2)
        assert session.counters["disconnects"] >= 1
    finally:
        await session.stop(timeout=0.2)
        srv.close()
        await srv.wait_closed()


async def test_a_logon_above_the_expected_number_is_in_sync_only_after_the_resend(
    tmp_path: Path,
) -> None:
    server = Server(logon_seq=4)  # the peer sent 3 messages the node never saw
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    app: list[FixMessage] = []
    session = FixSession(SessionSettings("NODE", "VENUE", "127.0.0.1", port, heartbeat=30),
                         FileSeqNumStore(tmp_path / "seq.json"), on_message=app.append)
    session.start()
    try:
        await _until(lambda: len(server.of_type("2")) == 1)
        assert session.logged_on.is_set() and not session.in_sync.is_set()
        assert not await session.wait_in_sync(0.2)
        assert (server.of_type("2")[0][7], server.of_type("2")[0][16]) == ("1", "0")
        # The resend: a gap fill over the admin messages, an execution report (PossDup),
        # then the Logon's own number is gap-filled too.
        server.send("4", [(123, "Y"), (36, "3")], seq=1)
        server.send_raw(encode("8", [(37, "V-1"), (17, "E-1")],
                               [(49, "VENUE"), (56, "NODE"), (34, "3"), (43, "Y"),
                                (52, "20261203-08:00:00.000"), (122, "20261203-07:59:00.000")]))
        assert not await session.wait_in_sync(0.2)
        server.send("4", [(123, "Y"), (36, "5")], seq=4)
        assert await session.wait_in_sync(5)
        assert [m[17] for m in app] == ["E-1"] and session.store.next_in == 5
    finally:
        await session.stop(timeout=0.2)
        srv.close()
        await srv.wait_closed()


async def test_tls_logon_against_a_tls_server(tmp_path: Path) -> None:
    # NOT the real peer: the pip-built QuickFIX has no SSL; this checks the session's TLS
    # path (server certificate verified against tls_ca_file) with a self-signed cert.
    import shutil
    import ssl
    import subprocess

    # scripts/test installs openssl (Debian package) when it is missing.
    assert shutil.which("openssl"), "openssl is needed to make the test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = Server()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    port = srv.sockets[0].getsockname()[1]
    session = FixSession(SessionSettings("NODE", "VENUE", "127.0.0.1", port, heartbeat=30,
                                         tls=True, tls_ca_file=str(cert)),
                         FileSeqNumStore(tmp_path / "seq.json"), on_message=lambda m: None)
    session.start()
    try:
        assert await session.wait_in_sync(5)
        assert server.of_type("A")
    finally:
        await session.stop(timeout=0.2)
        srv.close()
        await srv.wait_closed()
