"""Device and tag descriptions shared by the gateway and the twin (protocol-level addressing)."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nexus.model.s7address import S7Address, parse_s7_address

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
    STRING = "string"

    @property
    def register_count(self) -> int:
        """Registers of a fixed-size type (a string's count follows its `length`)."""
        try:
            return _REGISTER_COUNT[self]
        except KeyError:
            raise ValueError("a string's register count follows its length") from None


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
    length: int | None = Field(
        default=None, ge=1, le=250, description="bytes of a string (2 per register)"
    )
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @model_validator(mode="after")
    def _check_table_and_type(self) -> ModbusTag:
        if self.type is DataType.STRING:
            if self.length is None:
                raise ValueError("a string needs its length in bytes (length: 16)")
            if self.order not in (ByteOrder.ABCD, ByteOrder.BADC):
                raise ValueError("a string's byte order is ABCD or BADC (bytes swapped)")
            if self.scale != 1 or self.offset != 0:
                raise ValueError("a string takes no scale or offset")
        elif self.length is not None:
            raise ValueError("only a string takes a length")
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
        if self.type is DataType.STRING:
            return ((self.length or 0) + 1) // 2
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
        _check_unique_tags(self.tags)
        return self

    @property
    def topic_prefix(self) -> str:
        return f"dev/{self.site}/{self.line}/{self.name}"

    @property
    def endpoint(self) -> str:
        return f"modbus://{self.host}:{self.port}/{self.unit_id}"


def _check_unique_tags(tags: list[Any]) -> None:
    seen: set[str] = set()
    for tag in tags:
        if tag.name in seen:
            raise ValueError(f"tag name {tag.name!r} is used twice")
        seen.add(tag.name)


# -- OPC UA -------------------------------------------------------------------------------------

_NODE_ID = re.compile(r"^(?:ns=(?P<ns>\d+);)?(?P<kind>[isgb])=(?P<id>.+)$", re.DOTALL)


class OpcUaType(StrEnum):
    """OPC UA built-in data types a tag can have (the node's DataType)."""

    BOOLEAN = "Boolean"
    SBYTE = "SByte"
    BYTE = "Byte"
    INT16 = "Int16"
    UINT16 = "UInt16"
    INT32 = "Int32"
    UINT32 = "UInt32"
    INT64 = "Int64"
    UINT64 = "UInt64"
    FLOAT = "Float"
    DOUBLE = "Double"
    STRING = "String"


class OpcUaTag(BaseModel):
    """One variable of an OPC UA server, by node id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    node_id: str = Field(description="ns=2;s=Line1.Temperature, ns=3;i=1001, i=2258")
    unit: str = ""
    sampling_interval_ms: int | None = Field(
        default=None, ge=0, le=60000, description="subscription mode (default: poll interval)"
    )
    deadband: float | None = Field(
        default=None, ge=0, description="absolute deadband (subscription mode)"
    )

    @field_validator("node_id")
    @classmethod
    def _check_node_id(cls, value: str) -> str:
        match = _NODE_ID.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a node id (ns=2;s=Name, ns=2;i=42, i=2258)")
        if match["kind"] == "i" and not match["id"].isdigit():
            raise ValueError(f"{value!r}: a numeric node id (i=) needs digits")
        return value


SecurityPolicy = Literal["None", "Basic256Sha256"]
SecurityMode = Literal["Sign", "SignAndEncrypt"]


class OpcUaDevice(BaseModel):
    """An OPC UA server as the gateway reads it (one session per device)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    site: Name
    line: Name
    protocol: Literal["opcua"]
    endpoint: str = Field(pattern=r"^opc\.tcp://[^/\s]+(/\S*)?$", description="opc.tcp://host:4840")
    mode: Literal["subscription", "polling"] = "subscription"
    poll_interval_ms: int = Field(
        default=1000, ge=100, le=60000, description="publishing interval in subscription mode"
    )
    timeout_ms: int = Field(default=2000, ge=50, le=60000)
    max_nodes_per_read: int = Field(default=500, ge=1, le=10000)
    security_policy: SecurityPolicy = "None"
    security_mode: SecurityMode = "SignAndEncrypt"
    certificate: str | None = Field(default=None, description="client certificate file (DER/PEM)")
    private_key: str | None = Field(default=None, description="client private key file (PEM)")
    server_certificate: str | None = None
    username: str | None = None
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable that holds the password (never in the file)",
    )
    tags: list[OpcUaTag] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> OpcUaDevice:
        _check_unique_tags(self.tags)
        node_ids: set[str] = set()
        for tag in self.tags:
            if tag.node_id in node_ids:
                raise ValueError(f"node id {tag.node_id!r} is used by two tags")
            node_ids.add(tag.node_id)
        if self.security_policy != "None" and (
            self.certificate is None or self.private_key is None
        ):
            raise ValueError(
                f"security policy {self.security_policy} needs certificate and private_key"
            )
        if self.password_env is not None and self.username is None:
            raise ValueError("password_env needs a username")
        return self

    @property
    def topic_prefix(self) -> str:
        return f"dev/{self.site}/{self.line}/{self.name}"


# -- Siemens S7 ---------------------------------------------------------------------------------


class S7Tag(BaseModel):
    """One value of an S7 PLC, by address (``DB1.DBD0:REAL``, ``MW10:INT``, ``I0.1:BOOL``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    address: str
    unit: str = ""

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return str(parse_s7_address(value))

    @cached_property
    def location(self) -> S7Address:
        """The parsed address."""
        return parse_s7_address(self.address)


class S7Device(BaseModel):
    """A Siemens S7 PLC (S7-300/400/1200/1500 with PUT/GET) as the gateway polls it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    site: Name
    line: Name
    protocol: Literal["s7"]
    host: str = "127.0.0.1"
    port: int = Field(default=102, ge=1, le=65535)
    rack: int = Field(default=0, ge=0, le=7)
    slot: int = Field(default=1, ge=0, le=31)
    poll_interval_ms: int = Field(default=1000, ge=100, le=60000)
    timeout_ms: int = Field(default=1000, ge=50, le=60000)
    pdu_size: int = Field(default=480, ge=240, le=960, description="PDU size requested")
    max_gap: int = Field(
        default=8, ge=0, le=256, description="unused bytes read to merge two tags into one item"
    )
    tags: list[S7Tag] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_tag_names(self) -> S7Device:
        _check_unique_tags(self.tags)
        return self

    @property
    def topic_prefix(self) -> str:
        return f"dev/{self.site}/{self.line}/{self.name}"


# -- any device ---------------------------------------------------------------------------------

PROTOCOLS = ("modbus", "opcua", "s7")


def protocol_of(value: Any, default: str = "modbus") -> str:
    """The `protocol` of a mapping or model (`default` when a mapping has none)."""
    if isinstance(value, dict):
        protocol = value.get("protocol", default)
        return protocol if isinstance(protocol, str) else repr(protocol)
    return str(getattr(value, "protocol", ""))


def protocol_dispatch(
    models: dict[str, type[BaseModel]], title: str
) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """A wrap validator validating with the protocol's own model, so errors name the field
    inside the device (devices[0].tags[1].type), and an unknown protocol names `protocol`."""
    known = tuple(models.values())

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, known):
            return value
        protocol = protocol_of(value)
        model = models.get(protocol)
        if model is None:
            message = f"unknown protocol {protocol!r}: {', '.join(models)}"
            raise ValidationError.from_exception_data(
                title,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("protocol", message),
                        loc=("protocol",),
                        input=protocol,
                    )
                ],
            )
        return model.model_validate(value)

    return validate


Device = Annotated[
    Annotated[ModbusDevice, Tag("modbus")]
    | Annotated[OpcUaDevice, Tag("opcua")]
    | Annotated[S7Device, Tag("s7")],
    Discriminator(protocol_of),
    WrapValidator(
        protocol_dispatch({"modbus": ModbusDevice, "opcua": OpcUaDevice, "s7": S7Device}, "Device")
    ),
]
"""Any device, chosen by its `protocol` (modbus when absent, for older device files)."""

AnyDevice = ModbusDevice | OpcUaDevice | S7Device
