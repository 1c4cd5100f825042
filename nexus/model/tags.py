"""Device and tag descriptions shared by the gateway and the twin (protocol-level addressing)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=64)]
"""A site, line, device or tag name: safe as one MQTT topic level."""


class RegisterTable(StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def is_bit(self) -> bool:
        return self in (RegisterTable.COIL, RegisterTable.DISCRETE_INPUT)


class DataType(StrEnum):
    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    @property
    def register_count(self) -> int:
        return _REGISTER_COUNT[self]


_REGISTER_COUNT = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT32: 2,
    DataType.FLOAT64: 4,
}


class ByteOrder(StrEnum):
    """Order of the bytes of a multi-register value, named by the big-endian value ABCD.

    ABCD: big-endian (Modbus default). DCBA: little-endian. BADC: bytes swapped in each
    register. CDAB: registers (words) swapped, bytes big-endian ("word swap").
    """

    ABCD = "ABCD"
    DCBA = "DCBA"
    BADC = "BADC"
    CDAB = "CDAB"


class ModbusTag(BaseModel):
    """One value of a Modbus device: where it lives and how to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    table: RegisterTable = RegisterTable.HOLDING
    address: int = Field(ge=0, le=65535, description="0-based protocol address")
    type: DataType = DataType.UINT16
    order: ByteOrder = ByteOrder.ABCD
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @model_validator(mode="after")
    def _check_table_and_type(self) -> ModbusTag:
        if self.table.is_bit and self.type is not DataType.BOOL:
            raise ValueError(f"a {self.table.value} holds a bool, not {self.type.value}")
        if not self.table.is_bit and self.type is DataType.BOOL:
            raise ValueError(
                f"type bool needs table coil or discrete_input, not {self.table.value}"
            )
        if self.address + self.register_count > 65536:
            raise ValueError("tag runs past the last Modbus address 65535")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    @property
    def register_count(self) -> int:
        return self.type.register_count


class ModbusDevice(BaseModel):
    """A Modbus TCP device as the gateway polls it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    site: Name
    line: Name
    protocol: Literal["modbus"] = "modbus"
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    poll_interval_ms: int = Field(default=1000, ge=100, le=60000)
    timeout_ms: int = Field(default=1000, ge=50, le=60000)
    max_registers_per_read: int = Field(default=125, ge=1, le=125)
    tags: list[ModbusTag] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_tag_names(self) -> ModbusDevice:
        seen: set[str] = set()
        for tag in self.tags:
            if tag.name in seen:
                raise ValueError(f"tag name {tag.name!r} is used twice")
            seen.add(tag.name)
        return self

    @property
    def topic_prefix(self) -> str:
        return f"dev/{self.site}/{self.line}/{self.name}"
