"""The supervisor <-> worker control protocol (supervisor ROUTER, worker DEALER).

A worker's life on this channel:

    worker                         supervisor
    Hello(name, pid)        ->
                            <-     WorkerSpec(role, members, bus peers, cores, config)
    Ready(cores, publisher) ->     (clients connected, every bus peer joined)
                            <-     Go (every worker is ready: strategies may start)
    Heartbeat(counters)     ->     (every heartbeat_interval)
    StateChanged(state)     ->
                            <-     Stop(phase)
    StopAck(clean, detail)  ->
    Failed(error)           ->     (start-up failed: no restart loop)

Messages are frozen msgspec structs in a tagged union: one decode call per
frame, no pickle. The node's configuration travels as its JSON bytes, because
this layer must not import the config layer.
"""

from __future__ import annotations

import msgspec


class ControlMessage(msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False):
    """Base of every control-channel message; the tag is the class name."""


class Hello(ControlMessage):
    worker: str
    pid: int


class BusPeer(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A publisher a worker subscribes to, and the topic prefixes it takes from it."""

    worker: str
    publisher_id: str
    endpoint: str
    prefixes: list[str]


class WorkerSpec(ControlMessage):
    worker: str
    role: str
    members: list[str]
    cores: list[int]
    publish_endpoint: str
    publisher_id: str
    peers: list[BusPeer]
    heartbeat_interval: float
    node_config_json: bytes
    instance_id: str
    run_dir: str


class Ready(ControlMessage):
    worker: str
    pid: int
    cores: list[int]
    publisher_id: str


class Go(ControlMessage):
    """Every worker is READY and subscribed: start trading."""


class WorkerCounters(msgspec.Struct, frozen=True, array_like=True, gc=False):
    msgs_in: int = 0
    msgs_out: int = 0
    dropped: int = 0
    gaps: int = 0
    malformed: int = 0
    pending: int = 0
    handler_errors: int = 0


class Heartbeat(ControlMessage):
    worker: str
    ts_ns: int
    state: str
    counters: WorkerCounters


class StateChanged(ControlMessage):
    worker: str
    state: str
    detail: str = ""


class Stop(ControlMessage):
    """Stop in order: the worker stops its components and answers StopAck."""

    reason: str = ""


class StopAck(ControlMessage):
    worker: str
    clean: bool
    detail: str = ""
    summary_json: bytes = b""


class Failed(ControlMessage):
    """The worker could not start; the supervisor stops the node instead of restarting it."""

    worker: str
    error: str


ControlUnion = (
    Hello | WorkerSpec | Ready | Go | Heartbeat | StateChanged | Stop | StopAck | Failed
)


class ControlCodecError(ValueError):
    """A control frame that is not one of the protocol's messages."""


class ControlCodec:
    """Encodes and decodes control messages; one instance per process."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(ControlUnion)

    def encode(self, msg: ControlMessage) -> bytes:
        return self._encoder.encode(msg)

    def decode(self, data: bytes) -> ControlMessage:
        try:
            msg: ControlMessage = self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ControlCodecError(f"malformed control frame ({len(data)} bytes): {exc}") from exc
        return msg
