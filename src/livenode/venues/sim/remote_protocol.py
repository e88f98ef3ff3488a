"""The wire protocol between a sim venue process and its remote clients.

Two sockets per venue:

- **command** (server ROUTER, client DEALER): a client sends `Request` frames;
  the server answers with `Reply` (same ``request_id``) and pushes the account's
  order events and `AccountState` as `Event` frames to every attached client.
  One ZeroMQ pipe per client keeps replies and events in the order the venue
  made them. ``request_id == 0`` means "no reply wanted" (order commands: their
  answers are the venue's events).
- **market** (server PUB, client SUB): one frame per message,
  ``topic NUL payload`` with the topic leading the frame so SUB prefix filtering
  works; topics are ``quote.{instrument_id}``, ``trade.{instrument_id}`` and
  ``instrument.{instrument_id}``. The NUL ends the topic, so subscribing to
  ``b"quote.BTCUSDT.SIM\\0"`` never matches ``BTCUSDT-PERP``. The end of a
  replay is one more frame, ``feed.end NUL`` + a msgpack `FeedStatus`, after the
  replay's last tick on the same connection.

A replay waits for ``start_feed`` (its payload: the msgpack list of the market
prefixes the client subscribed to; the server starts once its publisher has seen
them, so nothing is published before the subscriptions arrived). The reply's
``items`` hold one msgpack `FeedStatus`; the client that asked is a feed watcher
and gets `FeedEnded` on the command socket when the replay ends (never dropped,
unlike the market frame, which it doubles). A client of a random walk sends
``start_feed`` too (the walk runs already): it becomes a watcher, and hears of
the walk's end (``max_ticks``) or failure the same two ways.

Envelopes are small frozen msgspec structs in a tagged union (one decode per
frame); payloads are model messages encoded by `livenode.model.codec.Codec`, kept
as opaque bytes so the envelope decodes without knowing the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeAlias

import msgspec

from livenode.model.identifiers import InstrumentId

__all__ = [
    "FEED_END_PREFIX",
    "NO_REPLY",
    "OPS",
    "READY_LINE",
    "Event",
    "FeedEnded",
    "FeedStatus",
    "MarketFrameError",
    "Op",
    "ProtocolCodec",
    "ProtocolError",
    "Reply",
    "Request",
    "VenueFrame",
    "market_prefix",
    "pack_market",
    "unpack_market",
    "venue_endpoints",
]

#: What the venue process prints on stdout once it serves.
READY_LINE = "ready"
#: ``request_id`` of a request that wants no reply (commands answered by events).
NO_REPLY = 0

Op = Literal[
    "attach_account",
    "detach",
    "submit",
    "modify",
    "cancel",
    "cancel_all",
    "order_status_reports",
    "order_status_reports_for",
    "fill_reports",
    "position_reports",
    "account_state",
    "instruments",
    "ping",
    "start_feed",
]
OPS: frozenset[str] = frozenset(Op.__args__)  # type: ignore[attr-defined]

QUOTE = "quote"
TRADE = "trade"
INSTRUMENT = "instrument"
SEPARATOR = b"\x00"
#: The market frame that ends a replay (its payload is a msgpack `FeedStatus`).
FEED_END_PREFIX = b"feed.end" + SEPARATOR


class FeedStatus(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Where the venue's feed stands, and what a replay emitted so far.

    ``state``: ``"random_walk"`` (starts with the venue, never waits), ``"waiting"``
    (a replay not started yet), ``"running"``, ``"finished"`` or ``"failed"`` (a bad
    line with ``on_bad_line = "stop"``: ``error`` names file and line; or an error
    in the feed itself: ``error`` names the exception). A random walk may end too:
    ``"finished"`` (``max_ticks``) or ``"failed"``. ``first_ts`` / ``last_ts`` are
    the recorded times of the first and last record (ISO 8601 UTC).
    ``stop_at_end`` and ``on_bad_line`` are the venue's feed config, so the client
    knows what the end means for the node. ``feed_errors`` counts the feed's
    failures (``on_error = "restart"`` resumed after all but the last, if it
    failed), ``records_lost`` the replay records dropped by those restarts.
    """

    state: str
    quotes: int = 0
    trades: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    bad_lines_skipped: int = 0
    error: str | None = None
    stop_at_end: bool = False
    on_bad_line: str = "stop"
    feed_errors: int = 0
    records_lost: int = 0
    # "replay" or "random_walk" (the venue's feed.mode).
    mode: str = "replay"


class VenueFrame(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    """Base of the command-socket envelopes; the tag is the class name."""


class Request(VenueFrame, frozen=True):
    """Client to server. ``payload`` is a codec-encoded command for the order ops.

    ``open_only`` applies to ``order_status_reports`` only (closed orders too when
    False), mirroring `SimVenue.order_status_reports(open_only)`. The ``payload`` of
    ``order_status_reports_for`` is the msgpack list of the client order ids asked.
    """

    request_id: int
    op: Op
    payload: bytes = b""
    open_only: bool = True


class Reply(VenueFrame, frozen=True):
    """Server to client, answering the `Request` with the same ``request_id``.

    ``items`` are codec-encoded model messages (instruments, reports); ``venue``,
    ``account_id`` and ``session`` describe the venue (ping, attach).
    """

    request_id: int
    ok: bool = True
    error: str = ""
    venue: str = ""
    account_id: str = ""
    session: str = ""
    items: list[bytes] = msgspec.field(default_factory=list)
    # ping: the venue's feed mode ("random_walk" or "replay").
    feed: str = ""


class Event(VenueFrame, frozen=True):
    """Server to an attached client: one account message (order event, AccountState).

    ``seq`` counts per client from 1, so a client can tell a gap (which the
    server's ordered, never-dropping send path should make impossible).
    """

    seq: int
    payload: bytes


class FeedEnded(VenueFrame, frozen=True):
    """Server to every client that asked ``start_feed``: the feed ended (``status``
    says how). Sent on the ordered command pipe, so it is never lost."""

    status: FeedStatus


VenueFrameUnion: TypeAlias = Request | Reply | Event | FeedEnded


class ProtocolError(ValueError):
    """A command-socket frame that is not one of the protocol's envelopes."""


class MarketFrameError(ValueError):
    """A market frame that is not ``topic NUL payload``."""


class ProtocolCodec:
    """Encodes and decodes envelopes; one per socket owner (msgspec reuses buffers)."""

    __slots__ = ("_decoder", "_encoder")

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[VenueFrameUnion] = msgspec.msgpack.Decoder(
            VenueFrameUnion
        )

    def encode(self, frame: VenueFrame) -> bytes:
        return self._encoder.encode(frame)

    def decode(self, data: bytes | memoryview) -> VenueFrameUnion:
        """The envelope in `data`; `ProtocolError` says what is wrong otherwise."""
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            raise ProtocolError(f"malformed venue frame ({len(data)} bytes): {exc}") from exc


def market_prefix(kind: str, instrument_id: InstrumentId | str) -> bytes:
    """The exact topic prefix (NUL included) of one instrument's stream of `kind`."""
    return f"{kind}.{instrument_id}".encode() + SEPARATOR


def pack_market(prefix: bytes, payload: bytes) -> bytes:
    """One market frame: the prefix from `market_prefix`, then the codec payload."""
    return prefix + payload


def unpack_market(frame: bytes) -> tuple[str, memoryview]:
    """Split a market frame into its topic and a view of the payload (no copy)."""
    i = frame.find(SEPARATOR)
    if i < 0:
        raise MarketFrameError(f"market frame of {len(frame)} bytes has no topic separator")
    try:
        topic = frame[:i].decode()
    except UnicodeDecodeError as exc:
        raise MarketFrameError(f"market topic is not UTF-8: {frame[:i][:80]!r}") from exc
    return topic, memoryview(frame)[i + 1 :]


def venue_endpoints(run_dir: str | Path, venue: str) -> tuple[str, str]:
    """The (command, market) ipc endpoints of the venue process of `venue` in `run_dir`."""
    base = Path(run_dir)
    return f"ipc://{base / f'sim-{venue}-cmd.ipc'}", f"ipc://{base / f'sim-{venue}-md.ipc'}"
