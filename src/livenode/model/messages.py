"""The base of every message that travels on the bus.

Every bus message is a frozen, array-like, GC-untracked msgspec Struct whose tag is
its class name, so a single `msgspec.msgpack.Decoder(BusMessage)` decodes any of
them in one call (see `livenode.model.codec`).
"""

from __future__ import annotations

import msgspec


class Message(
    msgspec.Struct, frozen=True, tag=True, array_like=True, gc=False, forbid_unknown_fields=True
):
    """Base class of all bus messages (tag = class name).

    Subclasses inherit the configuration: frozen (messages are shared between
    components and must never change under a reader), array-like (smaller and
    faster on the wire than maps), `gc=False` (messages hold no reference
    cycles, so keeping them out of the cyclic GC shortens its pauses) and
    `forbid_unknown_fields` (every process of a node runs the same code, so
    extra trailing elements mean a corrupt frame, not a newer sender).
    """


class ValueStruct(
    msgspec.Struct, frozen=True, array_like=True, gc=False, forbid_unknown_fields=True
):
    """Base of untagged value types nested inside messages (ids, prices, ...).

    They are never sent on their own, so they carry no tag; that keeps them small
    on the wire.
    """
