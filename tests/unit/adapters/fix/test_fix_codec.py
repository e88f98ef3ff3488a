"""The FIX 4.4 codec: round trips, BodyLength/CheckSum, groups, framing, malformed input."""

from __future__ import annotations

import pytest

from livenode.adapters.fix.codec import (
    FixDecodeError,
    FixFramer,
    FixFramingError,
    checksum,
    decode,
    encode,
    group_fields,
)

HEADER = [(49, "NODE"), (56, "VENUE"), (34, "7"), (52, "20261203-08:00:00.000")]


def _nos() -> bytes:
    return encode("D", [(11, "O-1"), (55, "BTCUSDT"), (54, "1"), (38, "0.010"), (40, "1"),
                        (60, "20261203-08:00:00.000")], HEADER)


def test_encode_sets_body_length_and_checksum_and_decode_reads_them_back() -> None:
    raw = _nos()
    assert raw.startswith(b"8=FIX.4.4\x019=")
    body = raw[raw.index(b"\x0135=") + 1:raw.rindex(b"10=")]
    assert f"9={len(body)}\x01".encode() in raw
    assert raw.endswith(b"10=%03d\x01" % checksum(raw[:raw.rindex(b"10=")]))
    msg = decode(raw)
    assert msg.msg_type == "D" and msg.seq_num == 7 and not msg.poss_dup
    assert msg[11] == "O-1" and msg.get(38) == "0.010" and msg.get_int(34) == 7
    assert 55 in msg and 99 not in msg


def test_a_known_checksum_from_the_spec_example() -> None:
    # 8=FIX.4.4|9=49|35=5|34=1|49=ARCA|52=20150916-04:14:05.306|56=TW|10=159 (public example)
    raw = b"8=FIX.4.4\x019=49\x0135=5\x0134=1\x0149=ARCA\x0152=20150916-04:14:05.306\x0156=TW\x01"
    assert checksum(raw) == 159
    assert decode(raw + b"10=159\x01").msg_type == "5"


def test_repeating_groups_encode_and_decode() -> None:
    fields = [(11, "O-1"), *group_fields(453, [[(448, "ACC-1"), (447, "D"), (452, "3")],
                                               [(448, "ACC-2"), (452, "24")]]), (55, "X")]
    msg = decode(encode("D", fields, HEADER))
    assert msg.group(453, (448, 447, 452)) == [{448: "ACC-1", 447: "D", 452: "3"},
                                               {448: "ACC-2", 452: "24"}]
    assert msg.group(268, (269, 270)) == []


def test_a_group_whose_count_is_wrong_names_the_count_tag() -> None:
    fields = [(453, "3"), (448, "A"), (452, "3"), (448, "B"), (452, "3")]
    with pytest.raises(FixDecodeError, match=r"tag 453: group count 3 but 2 entries") as err:
        decode(encode("D", fields, HEADER)).group(453, (448, 452))
    assert err.value.tag == 453


@pytest.mark.parametrize(("mangle", "tag", "text"), [
    (lambda r: r.replace(b"10=", b"10=9", 1)[:-2] + b"\x01", 10, "CheckSum"),
    (lambda r: r[:-4] + b"%03d\x01" % ((int(r[-4:-1]) + 1) % 256), 10, "CheckSum"),
    (lambda r: r.replace(b"9=", b"9=1", 1), 9, "BodyLength"),
    (lambda r: r.replace(b"FIX.4.4", b"FIX.4.2", 1), 8, "BeginString"),
    (lambda r: _reframe(r.replace(b"\x0155=", b"\x0155=\x01", 1)), 55, "empty value"),
])
def test_malformed_messages_raise_an_error_naming_the_tag(mangle, tag, text) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FixDecodeError, match=text) as err:
        decode(mangle(_nos()))
    assert err.value.tag == tag
    assert f"tag {tag}:" in str(err.value)


def _reframe(raw: bytes) -> bytes:
    """`raw` with BodyLength and CheckSum made right again (a well-framed bad message)."""
    body = raw[raw.index(b"\x0135=") + 1:raw.rindex(b"10=")]
    msg = b"8=FIX.4.4\x019=%d\x01" % len(body) + body
    return msg + b"10=%03d\x01" % checksum(msg)


def test_a_field_without_equals_or_with_a_bad_tag_is_reported() -> None:
    raw = _reframe(_nos().replace(b"\x0155=BTCUSDT", b"\x0155BTCUSDT", 1))
    with pytest.raises(FixDecodeError, match="has no '='") as err:
        decode(raw)
    assert (err.value.seq_num, err.value.msg_type) == (7, "D")
    raw = _reframe(_nos().replace(b"\x0155=", b"\x01x5=", 1))
    with pytest.raises(FixDecodeError, match="invalid tag number"):
        decode(raw)


def test_missing_required_field_and_bad_integer_name_the_tag() -> None:
    msg = decode(_nos())
    with pytest.raises(FixDecodeError, match=r"tag 37: required field missing from D"):
        msg[37]
    bad = decode(encode("D", [(38, "ten")], HEADER))
    with pytest.raises(FixDecodeError, match=r"tag 38: expected an integer, got 'ten'"):
        bad.get_int(38)


def test_a_value_with_soh_is_refused_on_encode() -> None:
    with pytest.raises(ValueError, match="contains SOH"):
        encode("D", [(58, "a\x01b")])


def test_framer_cuts_messages_across_partial_reads() -> None:
    one, two = _nos(), encode("0", [], HEADER)
    stream = one + two
    framer = FixFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        framer.feed(stream[i:i + 7])
        while (msg := framer.next_message()) is not None:
            out.append(msg)
    assert out == [one, two] and framer.buffered == 0


def test_framer_skips_garbage_and_bad_body_length_then_goes_on() -> None:
    good = _nos()
    framer = FixFramer()
    framer.feed(b"junk" + good)
    with pytest.raises(FixFramingError, match="garbage"):
        framer.next_message()
    assert framer.next_message() == good
    bad = good.replace(b"9=", b"9=9", 1)  # declared length lands past the real CheckSum
    framer.feed(bad + b"x" * 10_000 + good)
    with pytest.raises(FixFramingError, match="tag 9"):
        framer.next_message()
    assert framer.next_message() == good
    framer.feed(b"8=FIX.4.4\x019=abc\x0135=0\x01")
    with pytest.raises(FixFramingError, match="BodyLength unreadable"):
        framer.next_message()
    assert framer.next_message() is None
