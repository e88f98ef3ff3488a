"""The base of every config struct."""

from __future__ import annotations

import msgspec


class ConfigStruct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every config struct.

    msgspec passes `frozen` and `forbid_unknown_fields` on to subclasses, but
    `kw_only` applies only to the fields a class defines itself, so every
    subclass repeats it.
    """
