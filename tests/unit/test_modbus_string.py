"""Modbus strings: the gateway's decoder against pymodbus' encoder, the twin's against pymodbus'
decoder (each side checked by an implementation that is not its own)."""

from __future__ import annotations

import pytest
from pymodbus.client import ModbusTcpClient

from nexus.gateway.modbus.decode import decode_registers
from nexus.model.tags import ByteOrder, ModbusTag
from simulators.modbus.encoding import encode_string, encode_value, fit_text

STRING = ModbusTcpClient.DATATYPE.STRING
TEXTS = ["", "A", "Line 7", "温度 Grüße °C", "ABCDEFGHIJKLMNOPQRST"]


def swap(registers: list[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in registers]


def as_text(value: object) -> str:
    assert isinstance(value, str)
    return value.rstrip("\0")


def tag(order: str = "ABCD", length: int = 20) -> ModbusTag:
    return ModbusTag(name="s", address=0, type="string", length=length, order=ByteOrder(order))


@pytest.mark.parametrize("text", TEXTS)
def test_gateway_decodes_what_pymodbus_encodes(text: str) -> None:
    registers = ModbusTcpClient.convert_to_registers(text, STRING)
    registers += [0] * (10 - len(registers))
    assert decode_registers(tag(), registers) == text
    assert decode_registers(tag("BADC"), swap(registers)) == text


@pytest.mark.parametrize("text", TEXTS)
def test_pymodbus_decodes_what_the_twin_encodes(text: str) -> None:
    registers = encode_value(tag(), text)
    assert len(registers) == 10
    assert as_text(ModbusTcpClient.convert_from_registers(registers, STRING)) == text
    badc = encode_string(text, 20, ByteOrder.BADC)
    assert as_text(ModbusTcpClient.convert_from_registers(swap(badc), STRING)) == text


def test_odd_lengths_and_cutting_at_a_character() -> None:
    assert tag(length=5).register_count == 3
    assert fit_text("Grüße", 3) == "Gr"  # ü is two bytes: it does not fit whole
    assert decode_registers(tag(length=5), encode_string("Grüße", 5, ByteOrder.ABCD)) == "Grü"
    with pytest.raises(ValueError, match="registers, expected 3"):
        decode_registers(tag(length=5), [0, 0])
