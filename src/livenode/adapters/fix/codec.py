"""FIX 4.4 tag=value codec: framing, BodyLength/CheckSum, fields and repeating groups.

Why not a library: the candidate on PyPI, ``simplefix`` (1.0.17, pure Python), frames
messages by scanning the buffer byte by byte in Python (re-slicing the buffer for every
field), does not check BodyLength (9) nor CheckSum (10), and reports a bad tag as a bare
``ValueError`` from ``int()``. A session layer needs exactly those checks, and an error
that names the tag so that it can answer with a Reject (35=3) citing it. The codec here
is small: framing uses ``bytes.find`` and the declared BodyLength, decoding one
``split`` per message; it knows nothing about sessions.

- `encode(msg_type, fields, header)` builds a complete message (8, 9, 35, header, body,
  10) from ``(tag, value)`` pairs; a repeating group is its count field followed by its
  members, in order (`group_fields` builds them).
- `FixFramer` cuts complete messages out of a byte stream (partial reads are kept);
  a stream it cannot frame raises `FixFramingError` after skipping to the next
  ``8=FIX`` so that the caller can go on.
- `decode(raw)` checks BeginString, BodyLength, CheckSum and every field's syntax and
  returns a `FixMessage`; anything wrong raises `FixDecodeError` naming the tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "BEGIN_STRING",
    "SOH",
    "FixDecodeError",
    "FixFramer",
    "FixFramingError",
    "FixMessage",
    "checksum",
    "decode",
    "encode",
    "group_fields",
]

SOH = b"\x01"
BEGIN_STRING = "FIX.4.4"
_PREFIX = b"8=FIX"

Field = tuple[int, str]


class FixDecodeError(ValueError):
    """A message that is not valid FIX; `tag` is the offending tag (None if none applies).

    `reason` is the session-level reject reason (SessionRejectReason, tag 373) that a
    Reject of it should carry; `seq_num` / `msg_type` are what could be read of it.
    """

    def __init__(self, text: str, *, tag: int | None = None, reason: int = 99,
                 seq_num: int | None = None, msg_type: str | None = None) -> None:
        where = f"tag {tag}: " if tag is not None else ""
        super().__init__(f"{where}{text}")
        self.tag = tag
        self.reason = reason
        self.seq_num = seq_num
        self.msg_type = msg_type
        self.text = text


class FixFramingError(FixDecodeError):
    """The stream does not start with a frameable message (garbage, bad BodyLength)."""


def checksum(data: bytes) -> int:
    """The FIX CheckSum of `data`: the sum of its bytes modulo 256."""
    return sum(data) & 0xFF


def encode(msg_type: str, fields: Iterable[Field], header: Iterable[Field] = (),
           begin_string: str = BEGIN_STRING) -> bytes:
    """A complete message: ``8``, ``9``, ``35=msg_type``, `header`, `fields`, ``10``.

    Values are ``str`` (callers format numbers); a value containing SOH is refused.
    """
    parts = [f"35={msg_type}"]
    for tag, value in header:
        parts.append(f"{tag}={value}")
    for tag, value in fields:
        parts.append(f"{tag}={value}")
    body = ("\x01".join(parts) + "\x01").encode()
    if body.count(SOH) != len(parts):
        raise ValueError(f"a value of a {msg_type} message contains SOH")
    head = f"8={begin_string}\x019={len(body)}\x01".encode()
    msg = head + body
    return msg + b"10=%03d\x01" % checksum(msg)


def group_fields(count_tag: int, entries: Sequence[Sequence[Field]]) -> list[Field]:
    """The fields of a repeating group: its count, then each entry's fields in order
    (each entry must start with the group's delimiter tag)."""
    out: list[Field] = [(count_tag, str(len(entries)))]
    for entry in entries:
        out.extend(entry)
    return out


class FixMessage:
    """A decoded message: its fields in wire order (header and trailer included)."""

    __slots__ = ("_index", "fields", "raw")

    def __init__(self, fields: list[Field], raw: bytes = b"") -> None:
        self.fields = fields
        self.raw = raw
        index: dict[int, str] = {}
        for tag, value in fields:
            index.setdefault(tag, value)
        self._index = index

    @property
    def msg_type(self) -> str:
        """MsgType (35)."""
        return self._index.get(35, "")

    @property
    def seq_num(self) -> int:
        """MsgSeqNum (34), 0 if absent."""
        return int(self._index.get(34, "0"))

    @property
    def poss_dup(self) -> bool:
        """PossDupFlag (43) is Y."""
        return self._index.get(43) == "Y"

    def get(self, tag: int, default: str | None = None) -> str | None:
        """The first value of `tag`, or `default`."""
        return self._index.get(tag, default)

    def __getitem__(self, tag: int) -> str:
        try:
            return self._index[tag]
        except KeyError:
            raise FixDecodeError(
                f"required field missing from {self.msg_type or 'message'}",
                tag=tag, reason=1, seq_num=self._seq_or_none(), msg_type=self.msg_type,
            ) from None

    def __contains__(self, tag: object) -> bool:
        return tag in self._index

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        """The first value of `tag` as an int (`default` if absent); a value that is not
        an integer raises `FixDecodeError` naming the tag."""
        value = self._index.get(tag)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise FixDecodeError(f"expected an integer, got {value!r}", tag=tag, reason=6,
                                 seq_num=self._seq_or_none(), msg_type=self.msg_type) from None

    def group(self, count_tag: int, members: Sequence[int]) -> list[dict[int, str]]:
        """The entries of the repeating group counted by `count_tag`; `members` are its
        tags, the first being the delimiter that starts every entry. A count that does
        not match the entries raises `FixDecodeError` naming `count_tag`."""
        entries: list[dict[int, str]] = []
        member_set = set(members)
        delimiter = members[0]
        start = next((i for i, (t, _) in enumerate(self.fields) if t == count_tag), None)
        if start is None:
            return entries
        count = self.get_int(count_tag) or 0
        for tag, value in self.fields[start + 1:]:
            if tag == delimiter:
                entries.append({tag: value})
            elif tag in member_set and entries and tag not in entries[-1]:
                entries[-1][tag] = value
            else:
                break
        if len(entries) != count:
            raise FixDecodeError(
                f"group count {count} but {len(entries)} entries", tag=count_tag, reason=16,
                seq_num=self._seq_or_none(), msg_type=self.msg_type)
        return entries

    def _seq_or_none(self) -> int | None:
        value = self._index.get(34)
        return int(value) if value is not None and value.isdigit() else None

    def __repr__(self) -> str:
        return "FixMessage(" + "|".join(f"{t}={v}" for t, v in self.fields) + ")"


def decode(raw: bytes) -> FixMessage:
    """One complete message (as `FixFramer` cuts it) as a `FixMessage`.

    Checks, in order: the frame (BeginString first and FIX.4.4, BodyLength second and
    equal to the body's length, CheckSum last and equal to the computed sum: errors on
    tags 8, 9, 10 mean a garbled message), then every field ``tag=value`` with a positive
    integer tag and a non-empty value, MsgType third. Errors after the frame carry the
    message's MsgSeqNum and MsgType when they can be read.
    """
    seq, mtype = _peek(raw)

    def fail(text: str, tag: int | None, reason: int) -> FixDecodeError:
        return FixDecodeError(text, tag=tag, reason=reason, seq_num=seq, msg_type=mtype)

    if not raw.endswith(SOH):
        raise fail("message does not end with SOH", 10, 5)
    if not raw.startswith(b"8="):
        raise fail("BeginString must be the first field", 8, 14)
    first = raw.index(SOH)
    if raw[2:first] != BEGIN_STRING.encode():
        raise fail(f"BeginString {raw[2:first].decode(errors='replace')!r} is not "
                   f"{BEGIN_STRING}", 8, 5)
    second = raw.find(SOH, first + 1)
    if not raw.startswith(b"9=", first + 1) or second < 0:
        raise fail("BodyLength must be the second field", 9, 14)
    trailer = raw.rfind(b"\x0110=")
    if trailer < second:
        raise fail("CheckSum must be the last field", 10, 14)
    trailer += 1
    declared = raw[first + 3:second]
    if not declared.isdigit() or int(declared) != trailer - second - 1:
        raise fail(f"BodyLength {declared.decode(errors='replace')} but the body has "
                   f"{trailer - second - 1} bytes", 9, 5)
    declared_sum = raw[trailer + 3:-1]
    computed = checksum(raw[:trailer])
    if len(declared_sum) != 3 or not declared_sum.isdigit() or int(declared_sum) != computed:
        raise fail(f"CheckSum {declared_sum.decode(errors='replace')} but computed "
                   f"{computed:03d}", 10, 5)
    fields: list[Field] = []
    for i, part in enumerate(raw[:-1].split(SOH)):
        tag_b, eq, value_b = part.partition(b"=")
        if not eq:
            prev = fields[-1][0] if fields else None
            raise fail(f"field {part[:20]!r} has no '=' (after tag {prev})",
                       _tag_or_none(tag_b), 0)
        if not tag_b.isdigit() or tag_b.startswith(b"0"):
            raise fail(f"invalid tag number {tag_b[:20]!r} (field {i + 1})", None, 0)
        tag = int(tag_b)
        if not value_b:
            raise fail("empty value", tag, 4)
        try:
            value = value_b.decode()
        except UnicodeDecodeError:
            raise fail("value is not UTF-8", tag, 6) from None
        fields.append((tag, value))
    if len(fields) < 4 or fields[2][0] != 35:
        raise fail("MsgType must be the third field", 35, 14)
    return FixMessage(fields, raw)


def _peek(raw: bytes) -> tuple[int | None, str | None]:
    """MsgSeqNum and MsgType of a message that may not decode (for its Reject)."""
    seq: int | None = None
    mtype: str | None = None
    at = raw.find(b"\x0134=")
    if at >= 0:
        end = raw.find(SOH, at + 1)
        value = raw[at + 4:end]
        seq = int(value) if value.isdigit() else None
    at = raw.find(b"\x0135=")
    if at >= 0:
        end = raw.find(SOH, at + 1)
        mtype = raw[at + 4:end].decode(errors="replace") or None
    return seq, mtype


def _tag_or_none(tag_b: bytes) -> int | None:
    return int(tag_b) if tag_b.isdigit() else None


class FixFramer:
    """Cuts complete messages out of a byte stream.

    `feed` appends what was read; `next_message` returns the bytes of the next complete
    message (from ``8=`` to the SOH after ``10=nnn``) or None when more bytes are needed.
    Leading garbage, or a BodyLength that cannot be read or does not land on ``10=``,
    raises `FixFramingError` once, after dropping the bad bytes up to the next
    ``8=FIX`` (the stream can then go on).
    """

    __slots__ = ("_buf", "max_message")

    def __init__(self, max_message: int = 1 << 20) -> None:
        self._buf = bytearray()
        self.max_message = max_message

    def feed(self, data: bytes) -> None:
        """Append bytes read from the connection."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held (an incomplete message)."""
        return len(self._buf)

    def next_message(self) -> bytes | None:
        """The next complete message, None if incomplete (see the class docstring)."""
        buf = self._buf
        if not buf:
            return None
        if not buf.startswith(_PREFIX):
            if len(buf) < len(_PREFIX) and _PREFIX.startswith(bytes(buf)):
                return None
            self._skip(1)
            raise FixFramingError("garbage before BeginString", tag=8, reason=14)
        first = buf.find(SOH)
        if first < 0:
            self._check_head(8)
            return None
        second = buf.find(SOH, first + 1)
        if second < 0:
            self._check_head(9)
            return None
        length_field = bytes(buf[first + 1:second])
        if not length_field.startswith(b"9=") or not length_field[2:].isdigit():
            self._skip(1)
            raise FixFramingError(f"BodyLength unreadable: {length_field[:20]!r}", tag=9,
                                  reason=5)
        body_end = second + 1 + int(length_field[2:])
        if body_end + 7 > self.max_message:
            self._skip(1)
            raise FixFramingError(f"BodyLength {int(length_field[2:])} too large", tag=9,
                                  reason=5)
        if len(buf) < body_end + 7:
            return None
        if buf[body_end:body_end + 3] != b"10=" or buf[body_end + 6:body_end + 7] != SOH:
            self._skip(1)
            raise FixFramingError("BodyLength does not end at CheckSum", tag=9, reason=5)
        msg = bytes(buf[:body_end + 7])
        del buf[:body_end + 7]
        return msg

    def _check_head(self, tag: int) -> None:
        if len(self._buf) > 64:
            self._skip(1)
            raise FixFramingError("no SOH in the message head", tag=tag, reason=5)

    def _skip(self, at_least: int) -> None:
        nxt = self._buf.find(_PREFIX, at_least)
        if nxt < 0:
            # Keep only a tail that may be the start of the next message's ``8=FIX``.
            keep = next((n for n in range(len(_PREFIX) - 1, 0, -1)
                         if self._buf.endswith(_PREFIX[:n])), 0)
            del self._buf[:len(self._buf) - keep]
        else:
            del self._buf[:nxt]
