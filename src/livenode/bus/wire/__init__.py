"""The wire layer: every ZeroMQ socket of the node is driven from the event loop here.

One `Pump` per socket owns what every socket loop needs, and nothing else does:

- the socket's ``zmq.FD`` registered with the event loop (``add_reader``), not
  ``zmq.asyncio``, whose Future per message costs 30-50 us per hop;
- the edge-triggered drain: ZeroMQ's FD signals a *change* of the socket's events,
  so a wake-up reads until EAGAIN, and after every send the pump looks again (once
  per turn of the loop) because a send may consume the edge of a message that
  arrived meanwhile (it would be stranded until the next one);
- non-blocking receives and sends; the receive hook gets each message (one frame,
  or a ROUTER's frames), in a batch bounded by a count and a time budget per turn
  of the loop, with busy-polling (``spin_us``) for a process that owns its core;
- the outgoing queue, bounded (``max_queued`` frames; per peer on a ROUTER, so a
  slow peer never holds up the others) with an explicit, counted policy:
  ``"block"`` keeps what the socket cannot take yet, in order, and sends it when the
  socket is writable; a producer that reaches the bound is held (the pump waits on
  the socket, at most ``block_timeout``; after that it drops the newest frames,
  counted and logged, until there is room again). ``"drop"`` drops the newest frame,
  counted (market data: the newest quote matters, not a backlog). `Pump.offer`
  drops whatever cannot leave at once, on any pump (a publisher's market data);
- receiving paused and resumed by a consumer that is full (`Pump.pause`): ZeroMQ's
  receive high-water mark then holds the sender back;
- malformed frames counted and logged within a limit (`Pump.reject`,
  `livenode.core.log_limiter.LogLimiter`).

Framing and decoding belong to the channels built on a pump: a topic stream
(`TopicPublisher` on an XPUB, `TopicSubscriber` on a SUB: one frame per message,
the topic leading it so ZeroMQ's prefix filter works on it) and a request channel
(`RequestChannel` on a DEALER or a ROUTER: a peer's identity and one payload frame).
The bus transport (`livenode.bus.zmq_transport`), the control channel
(`livenode.bus.control`) and the sim venue's process link (`livenode.venues.sim`)
use them; nothing else calls ``send``/``recv`` on a ZeroMQ socket or watches its FD
(tests/unit/bus/test_wire_rule.py checks).

Modules: `pump` (`Pump`: the socket loop), `channels` (`TopicPublisher`,
`TopicSubscriber`, `RequestChannel`: framing on a pump).
"""

from __future__ import annotations

from livenode.bus.wire.channels import RequestChannel, TopicPublisher, TopicSubscriber
from livenode.bus.wire.pump import Policy, Pump

__all__ = ["Policy", "Pump", "RequestChannel", "TopicPublisher", "TopicSubscriber"]
