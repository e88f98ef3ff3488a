"""Where a hop's time goes inside a worker, stage by stage (sampled).

A message that crosses a process boundary costs more than the wire: the receiving
loop has to wake, receive and decode it, the handler works before it sends what
follows, the send encodes, and whatever the handler (and the rest of the loop turn)
does after the send delays the next process when both share a core. For 1 message
in ``every`` the subscriber stamps each boundary and the publisher stamps the first
send the message caused, all on ``time.time_ns`` (the sender's ``ts_sent`` is on the
same clock):

| stage | from | to |
|---|---|---|
| ``wire`` | the sender's send stamp | our loop woke for the socket (or started the drain) |
| ``recv`` | wake | the frame is out of ZeroMQ (includes frames drained before it) |
| ``decode`` | received | envelope and message decoded |
| ``to_send`` | decoded | the handler's first publish begins (its work before the forward) |
| ``send`` | publish begins | the frame is handed to ZeroMQ (encode, envelope, send) |
| ``after_send`` | sent | the handler returned (work after the forward) |
| ``turn`` | handler returned | the loop ran its next ready callback (rest of the turn) |
| ``handler`` | decoded | the handler returned, when it published nothing |

Histograms are kept per inbound topic kind (its first two segments, such as
``data.quotes`` or ``commands.risk``) and stage; `fanout` counts, per kind, the
sampled messages and the frames they caused to be published.
Off (``every = 0``) it costs one attribute test per frame and per publish.
"""

from __future__ import annotations

import asyncio
import time

from livenode.core.latency import LatencyHistogram

__all__ = ["STAGES", "StageTrace"]

STAGES = ("wire", "recv", "decode", "to_send", "send", "after_send", "turn", "handler")


class StageTrace:
    """Stage timings of sampled inbound messages in one worker.

    The subscriber calls `begin` for a sampled frame and `end` when its handler
    returned; the publisher calls `sending` / `sent` around each publish while a
    trace is `active`.
    """

    __slots__ = ("_decoded", "_first_send", "_kind", "_loop", "_send_start", "_sends",
                 "_sent", "active", "every", "fanout", "histograms")

    def __init__(self, every: int, loop: asyncio.AbstractEventLoop) -> None:
        self.every = every
        self._loop = loop
        self.active = False
        self.histograms: dict[str, LatencyHistogram] = {}
        self.fanout: dict[str, list[int]] = {}  # kind -> [sampled messages, frames sent]
        self._kind = ""
        self._decoded = 0
        self._send_start = 0
        self._sent = 0
        self._first_send = True
        self._sends = 0

    def begin(self, topic: str, ts_sent: int, woke: int, received: int) -> None:
        """A sampled frame was received and decoded (now)."""
        decoded = time.time_ns()
        first, _, rest = topic.partition(".")
        kind = first + "." + rest.partition(".")[0]
        self._kind = kind
        self._record(kind, "wire", woke - ts_sent)
        self._record(kind, "recv", received - woke)
        self._record(kind, "decode", decoded - received)
        self._decoded = decoded
        self._first_send = True
        self._sends = 0
        self.active = True

    def sending(self) -> None:
        """A publish begins while the sampled message is handled."""
        self._sends += 1
        if self._first_send:
            self._send_start = time.time_ns()

    def sent(self) -> None:
        """The publish that `sending` announced handed its frame to ZeroMQ."""
        if self._first_send:
            self._first_send = False
            self._sent = time.time_ns()
            self._record(self._kind, "to_send", self._send_start - self._decoded)
            self._record(self._kind, "send", self._sent - self._send_start)

    def end(self) -> None:
        """The sampled message's handler returned."""
        returned = time.time_ns()
        self.active = False
        kind = self._kind
        if self._first_send:
            self._record(kind, "handler", returned - self._decoded)
        else:
            self._record(kind, "after_send", returned - self._sent)
        fanout = self.fanout.get(kind)
        if fanout is None:
            fanout = self.fanout[kind] = [0, 0]
        fanout[0] += 1
        fanout[1] += self._sends
        self._loop.call_soon(self._turn_done, kind, returned)

    def _turn_done(self, kind: str, returned: int) -> None:
        self._record(kind, "turn", time.time_ns() - returned)

    def _record(self, kind: str, stage: str, ns: int) -> None:
        self._histogram(kind, stage).record(ns)

    def _histogram(self, kind: str, stage: str) -> LatencyHistogram:
        key = f"{kind}:{stage}"
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = LatencyHistogram()
        return histogram
