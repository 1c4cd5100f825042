from __future__ import annotations

import pytest

from nexus.errors import PayloadError
from nexus.ingest.decode import MAX_PAYLOAD_BYTES, decode_message
from nexus.model.payload import PointPayload, encode_point

TOPIC = "dev/site1/line1/press-01/temperature"


def payload(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "v": 84.5,
        "q": "good",
        "ts": 1703289600000,
        "u": "°C",
        "seq": 7,
        "gw": "g",
    }
    fields.update(overrides)
    return encode_point(PointPayload(**fields))  # type: ignore[arg-type]


def test_a_good_point_becomes_a_row() -> None:
    [(time, topic, value, value_str, quality, unit, seq, gw)] = decode_message(TOPIC, payload())
    assert (topic, value, value_str, quality, unit, seq, gw) == (
        TOPIC,
        84.5,
        None,
        192,
        "°C",
        7,
        "g",
    )
    assert int(time.timestamp() * 1000) == 1703289600000


@pytest.mark.parametrize(
    ("v", "value", "value_str"),
    [
        (True, 1.0, None),
        (3, 3.0, None),
        ("RUNNING", None, "RUNNING"),
        (None, None, None),
    ],
)
def test_value_kinds(v: object, value: float | None, value_str: str | None) -> None:
    [row] = decode_message(TOPIC, payload(v=v, q="bad" if v is None else "good"))
    assert row[2:4] == (value, value_str)


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("dev/a/b", payload(), "outside the contract"),
        ("other/a/b/c/d", payload(), "outside the contract"),
        (TOPIC, b"{not json", "invalid payload"),
        (TOPIC, b'{"v": 1, "ts": "yesterday", "seq": 1, "gw": "g"}', "$.ts"),
        (TOPIC, b'{"v": 1, "ts": 1703289600000, "gw": "g"}', "seq"),
        (TOPIC, payload(q="excellent"), "unknown quality"),
        (TOPIC, payload(ts=5), "outside 2000-01-01"),
        (TOPIC, b'{"v": 1' + b" " * MAX_PAYLOAD_BYTES + b"}", "exceeds"),
        (TOPIC, b'{"v": 1e999999, "ts": 1703289600000, "seq": 1, "gw": "g"}', "invalid payload"),
    ],
)
def test_bad_messages_name_the_reason(topic: str, body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode_message(topic, body)
    assert reason in info.value.reason
    assert info.value.topic == topic


@pytest.mark.parametrize("v", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_travel_as_marked_strings(v: float) -> None:
    body = payload(v=v)
    assert b'"nf":true' in body
    value = decode_message(TOPIC, body)[0][2]
    assert value is not None
    assert (value != value) if v != v else value == v


def test_nf_with_a_plain_string_is_rejected() -> None:
    with pytest.raises(PayloadError, match="nf is set"):
        decode_message(
            TOPIC, b'{"v": "hello", "nf": true, "ts": 1703289600000, "seq": 1, "gw": "g"}'
        )


DEVICE_TOPIC = "dev/site1/line1/press-01"


def test_a_batch_becomes_one_row_per_point_under_tag_topics() -> None:
    from nexus.model.payload import encode_batch

    points = [
        PointPayload(v=1.5, ts=1703289600000, u="bar", seq=1, gw="g"),
        PointPayload(v=float("inf"), ts=1703289600000, seq=2, gw="g"),
        PointPayload(v="IDLE", ts=1703289600500, seq=3, gw="g"),
        PointPayload(v=None, q="bad", ts=1703289600000, seq=4, gw="g"),
    ]
    body = encode_batch("g", 1703289600000, points, ["p", "x", "state", "broken"])
    rows = decode_message(DEVICE_TOPIC, body)
    assert [r[1] for r in rows] == [f"{DEVICE_TOPIC}/{t}" for t in ("p", "x", "state", "broken")]
    assert [r[2] for r in rows] == [1.5, float("inf"), None, None]
    assert rows[2][3] == "IDLE"
    assert [r[4] for r in rows] == [192, 192, 192, 0]
    assert int(rows[2][0].timestamp() * 1000) == 1703289600500
    assert [r[6] for r in rows] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"gw": "g", "ts": 1703289600000, "points": []}', "without points"),
        (b'{"gw": "g", "ts": 1703289600000, "points": [{"t": "a/b", "v": 1, "seq": 1}]}', ".t"),
        (
            b'{"gw": "g", "ts": 1703289600000, "points": [{"t": "a", "v": 1, "seq": 1},'
            b' {"t": "b", "v": 1, "q": "meh", "seq": 2}]}',
            "$.points[1].q",
        ),
        (
            b'{"gw": "g", "ts": 1703289600000, "points": [{"t": "a", "v": "x\\u0000", "seq": 1}]}',
            "NUL",
        ),
        (b'{"gw": "g", "points": [{"t": "a", "v": 1, "seq": 1}]}', "ts"),
    ],
)
def test_bad_batches_name_the_point_and_field(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode_message(DEVICE_TOPIC, body)
    assert reason in info.value.reason
