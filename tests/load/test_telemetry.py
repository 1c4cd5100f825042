"""Simulated devices publish the payload contract: what the ingest decodes is what they count."""

from __future__ import annotations

import pytest

from load.telemetry import DeviceTelemetry, PayloadForm
from nexus.ingest.decode import decode_message
from nexus.model.payload import decode_points

NOW = 1_795_000_000_000


def device(form: PayloadForm, tags: int = 3) -> DeviceTelemetry:
    return DeviceTelemetry(site="load", line="run-1", device="d00001", tags=tags, form=form)


@pytest.mark.parametrize("form", list(PayloadForm))
def test_the_ingest_stores_exactly_the_keys_a_poll_counts(form: PayloadForm) -> None:
    messages = device(form).poll(NOW)
    stored = {
        (row[1], int(row[0].timestamp() * 1000))
        for m in messages
        for row in decode_message(m.topic, m.payload)
    }
    counted = {key for m in messages for key in m.point_keys()}
    assert stored == counted
    assert len(counted) == 3
    assert sum(m.points for m in messages) == 3


def test_batch_form_is_one_message_on_the_device_topic() -> None:
    (message,) = device(PayloadForm.BATCH).poll(NOW)
    assert message.topic == "dev/load/run-1/d00001"
    points = decode_points(message.topic, message.payload)
    assert [topic for topic, _ in points] == list(message.topics)
    assert {p.ts for _, p in points} == {NOW}
    assert [p.seq for _, p in points] == [1, 2, 3]


def test_tag_form_is_one_message_per_tag_on_its_topic() -> None:
    messages = device(PayloadForm.TAG).poll(NOW)
    assert [m.topic for m in messages] == [f"dev/load/run-1/d00001/t00{j}" for j in range(3)]
    assert all(m.topics == (m.topic,) for m in messages)


def test_timestamps_of_a_device_strictly_increase_whatever_the_clock_says() -> None:
    telemetry = device(PayloadForm.BATCH)
    times = [telemetry.poll(now)[0].ts for now in (NOW, NOW, NOW - 5_000, NOW + 1)]
    assert times == [NOW, NOW + 1, NOW + 2, NOW + 3]


@pytest.mark.parametrize("tags", [0, 10_001])
def test_tags_per_device_are_bounded_by_what_the_ingest_accepts(tags: int) -> None:
    with pytest.raises(ValueError, match="tags per device"):
        device(PayloadForm.BATCH, tags=tags)


def test_names_must_be_one_topic_level() -> None:
    with pytest.raises(ValueError, match="site 'a/b'"):
        DeviceTelemetry(site="a/b", line="l", device="d", tags=1)
