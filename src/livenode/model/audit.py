"""The verdict of an audit of the node's books against a venue (see
`livenode.engines.audit` for how it is reached): what was checked, what differed,
and how verdicts cross the control channel between processes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "AUDIT_SCOPES",
    "BookDifference",
    "VenueAudit",
    "books_match",
    "decode_audits",
    "encode_audits",
    "verdict_text",
    "verdicts_to_builtins",
]

#: What an audit can compare, in the order the summary lists them.
AUDIT_SCOPES = ("orders", "positions", "balances", "fills")

class BookDifference(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the node and the venue disagree on.

    ``kind`` is one of `AUDIT_SCOPES` (singular: order, position, balance, fill);
    ``key`` names the order (client order id), instrument, currency or trade;
    ``node`` and ``venue`` say what each side holds ("none" for nothing).
    """

    kind: str
    key: str
    node: str
    venue: str

    def text(self) -> str:
        """One line for the summary and the log."""
        return f"{self.kind} {self.key}: node {self.node}, venue {self.venue}"


class VenueAudit(msgspec.Struct, frozen=True, kw_only=True):
    """The audit of one venue's account: what was checked and what differed.

    ``error`` is set when the venue could not be asked (then nothing was compared
    and the books are not known to match).
    """

    venue: str
    account_id: str
    checked: list[str] = []
    not_reported: list[str] = []
    differences: list[BookDifference] = []
    error: str | None = None
    attempts: int = 1

    @property
    def matches(self) -> bool:
        """True when the venue answered, something was compared and nothing differs."""
        return self.error is None and bool(self.checked) and not self.differences

    @property
    def differs(self) -> bool:
        """True when a difference was found or the venue could not be asked."""
        return self.error is not None or bool(self.differences)

    def lines(self) -> list[str]:
        """The human-readable verdict, one line per difference."""
        if self.error is not None:
            return [f"{self.venue}: not audited: {self.error}"]
        if not self.checked:
            return [f"{self.venue}: not audited: the venue reports nothing to compare"]
        scope = ", ".join(self.checked) or "nothing"
        unchecked = (f"; not reported by the venue: {', '.join(self.not_reported)}"
                     if self.not_reported else "")
        if not self.differences:
            return [f"{self.venue}: books match venue ({scope}{unchecked})"]
        head = (f"{self.venue}: {len(self.differences)} difference(s) with the venue "
                f"({scope}{unchecked})")
        return [head, *(f"  {d.text()}" for d in self.differences)]


def books_match(verdicts: Mapping[str, VenueAudit]) -> bool | None:
    """The node's verdict over its venues: False when one differs or could not be asked,
    None when there is none or one reports nothing to compare (not audited), else True."""
    values = list(verdicts.values())
    if any(v.differs for v in values):
        return False
    if not values or not all(v.checked for v in values):
        return None
    return True


def verdict_text(matches: bool | None) -> str:
    """The summary's one-line verdict of `books_match`."""
    if matches is None:
        return "not audited"
    return "books match venue" if matches else "books differ from venue"


def verdicts_to_builtins(verdicts: Mapping[str, VenueAudit]) -> dict[str, Any]:
    """The verdicts by client as JSON-ready builtins, each with its ``matches``."""
    return {name: {**msgspec.to_builtins(v), "matches": v.matches}
            for name, v in sorted(verdicts.items())}


_audits_decoder = msgspec.msgpack.Decoder(dict[str, VenueAudit])


def encode_audits(audits: dict[str, VenueAudit]) -> bytes:
    """msgpack bytes of verdicts by exec client (what crosses the control channel)."""
    return msgspec.msgpack.encode(audits)


def decode_audits(data: bytes) -> dict[str, VenueAudit]:
    """Verdicts from `encode_audits`' bytes.

    Raises:
        ValueError: the bytes are not verdicts (names what was wrong).
    """
    try:
        return _audits_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"malformed audit ({len(data)} bytes): {exc}") from exc
