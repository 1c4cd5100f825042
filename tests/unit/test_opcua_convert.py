"""OPC UA StatusCode → quality (severity bits), and variant values → point values."""

from __future__ import annotations

import datetime

import pytest
from asyncua import ua

from nexus.gateway.opcua.convert import plain_value, quality_of
from nexus.model.payload import Quality


@pytest.mark.parametrize(
    ("code", "quality"),
    [
        (ua.StatusCodes.Good, Quality.GOOD),
        (ua.StatusCodes.GoodClamped, Quality.GOOD),
        (ua.StatusCodes.UncertainLastUsableValue, Quality.UNCERTAIN),
        (ua.StatusCodes.UncertainSensorNotAccurate, Quality.UNCERTAIN),
        (ua.StatusCodes.BadDeviceFailure, Quality.BAD),
        (ua.StatusCodes.BadNodeIdUnknown, Quality.BAD),
        (0xC0000000, Quality.BAD),  # severity 11 is reserved: treated as bad
    ],
)
def test_severity_bits_give_the_quality(code: int, quality: Quality) -> None:
    assert quality_of(code) is quality
    assert quality_of(code) == {Quality.GOOD: 192, Quality.UNCERTAIN: 64, Quality.BAD: 0}[quality]


def test_plain_values() -> None:
    assert plain_value(True) is True
    assert plain_value(-5) == -5
    assert plain_value("é") == "é"
    assert plain_value(None) is None
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    assert plain_value(when) == "2024-01-02T03:04:05+00:00"
    assert plain_value(ua.LocalizedText("Auto")) == "Auto"
    assert plain_value(b"\x01\xff") == "01ff"
