"""One simulated OPC UA server (asyncua) exposing one device of the plant.

Address space: Objects/<site>/<line>/<device>/<tag>, folders for site, line and device, each
tag a variable with node id ``ns=2;s=site.line.device.tag`` (namespace ``urn:nexus-edge:twin``),
the tag's DataType (Boolean, SByte … Double, String), read-only. Numeric variables are
AnalogItemType with the properties EngineeringUnits (EUInformation, UNECE code where the unit is
a known one) and EURange. Values are written with typed Variants of asyncua (the gateway decodes
with its own code).

The StatusCode follows the twin's state: the tag's own `status` in the plant file and the
device's state (`set_status`), the worse of the two: Good, UncertainLastUsableValue or
BadDeviceFailure (whose value is null, as OPC UA Part 4 requires).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from asyncua import Server, ua
from asyncua.crypto import uacrypto
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.server.internal_server import InternalServer

from nexus.model.tags import OpcUaType
from simulators.errors import FleetError
from simulators.faults import ActiveFaults, opcua_status_code
from simulators.opcua.aspace import SharedSpaceInternalServer, shared_standard_nodes
from simulators.opcua.model import (
    NAMESPACE_INDEX,
    NAMESPACE_URI,
    NUMERIC,
    OpcUaTwinDevice,
    OpcUaTwinTag,
    StatusName,
    typed_value,
    worst,
)

log = logging.getLogger(__name__)

VARIANT_TYPE: dict[OpcUaType, ua.VariantType] = {
    OpcUaType.BOOLEAN: ua.VariantType.Boolean,
    OpcUaType.SBYTE: ua.VariantType.SByte,
    OpcUaType.BYTE: ua.VariantType.Byte,
    OpcUaType.INT16: ua.VariantType.Int16,
    OpcUaType.UINT16: ua.VariantType.UInt16,
    OpcUaType.INT32: ua.VariantType.Int32,
    OpcUaType.UINT32: ua.VariantType.UInt32,
    OpcUaType.INT64: ua.VariantType.Int64,
    OpcUaType.UINT64: ua.VariantType.UInt64,
    OpcUaType.FLOAT: ua.VariantType.Float,
    OpcUaType.DOUBLE: ua.VariantType.Double,
    OpcUaType.STRING: ua.VariantType.String,
}

STATUS_CODE: dict[StatusName, int] = {
    "good": ua.StatusCodes.Good,
    "uncertain": ua.StatusCodes.UncertainLastUsableValue,
    "bad": ua.StatusCodes.BadDeviceFailure,
}

UNECE_UNITS_URI = "http://www.opcfoundation.org/UA/units/un/cefact"
_UNECE_CODES = {  # common code → UnitId is the code's letters as a 24-bit integer (Part 8)
    "°C": "CEL",
    "K": "KEL",
    "bar": "BAR",
    "mbar": "MBR",
    "Pa": "PAL",
    "kPa": "KPA",
    "%": "P1",
    "V": "VLT",
    "A": "AMP",
    "W": "WTT",
    "kW": "KWT",
    "Wh": "WHR",
    "kWh": "KWH",
    "MWh": "MWH",
    "Hz": "HTZ",
    "rpm": "RPM",
    "m/s": "MTS",
    "m": "MTR",
    "mm": "MMT",
    "s": "SEC",
    "h": "HUR",
    "l/h": "L2",
    "l/min": "L2",
    "m³/h": "MQH",
    "kg": "KGM",
    "g": "GRM",
    "N": "NEW",
    "N·m": "NU",
}


def eu_information(unit: str) -> ua.EUInformation:
    code = _UNECE_CODES.get(unit)
    unit_id = -1
    if code is not None:
        unit_id = 0
        for char in code:
            unit_id = (unit_id << 8) | ord(char)
    return ua.EUInformation(
        NamespaceUri=UNECE_UNITS_URI,
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(unit),
        Description=ua.LocalizedText(unit),
    )


class OpcUaDeviceServer:
    """Serves one `OpcUaTwinDevice` at `host`; `now()` gives the simulated time.

    Values are written by `refresh()` (the fleet calls it periodically), only when they changed,
    so subscribed clients get one notification per change. `device.port` 0 picks a free port at
    the first start; restarts reuse it. A restart builds a new server: sessions and
    subscriptions are gone, as after a real server restart.
    """

    def __init__(self, device: OpcUaTwinDevice, host: str, now: Callable[[], float]) -> None:
        self.device = device
        self.host = host
        self.port = device.port
        self.status: StatusName = "good"
        self.faults = ActiveFaults()
        self._now = now
        self._server: Server | None = None
        self._node_ids: dict[str, ua.NodeId] = {}
        self._last: dict[str, tuple[object, int]] = {}

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        server = TwinUaServer(
            iserver=SharedSpaceInternalServer(await shared_standard_nodes()),
            latency=lambda: self.faults.latency_s,
        )
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}")
        server.set_server_name(f"NEXUS Edge twin {self.device.name}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.AnonymousIdentityToken])
        index = await server.register_namespace(NAMESPACE_URI)
        if index != NAMESPACE_INDEX:  # pragma: no cover - asyncua gives the first one index 2
            raise FleetError(f"twin namespace got index {index}, expected {NAMESPACE_INDEX}")
        await self._build_address_space(server)
        self._last.clear()
        await self.refresh(server)
        try:
            await server.start()
        except OSError as exc:
            await server.stop()
            raise FleetError(
                f"device {self.device.name} cannot listen on {self.host}:{self.port} "
                "(port in use or not allowed)"
            ) from exc
        if server.bserver is not None and server.bserver.port:
            self.port = int(server.bserver.port)
        if self.device.port != self.port:
            self.device = _with_port(self.device, self.port)
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    def kill_sessions(self) -> int:
        """Close every connection, and with it its session and subscriptions, without a restart:
        clients must connect and subscribe again. Returns how many connections were closed."""
        if self._server is None or self._server.bserver is None:
            return 0
        clients = list(self._server.bserver.clients)
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        return len(clients)

    async def set_status(self, status: StatusName) -> None:
        self.status = status
        if self._server is not None:
            await self.refresh()

    async def refresh(self, server: Server | None = None) -> None:
        """Write every variable whose value or status changed since the last write."""
        server = server or self._server
        if server is None:
            return
        t = self._now()
        faults = self.faults
        for tag in self.device.tags:
            status = worst(tag.spec.status, self.status)
            if (quality := faults.quality_for(tag.name)) is not None:
                status = worst(status, quality)
            value = self._faulted_value(tag, t) if faults.touches_values else tag.value_at(t)
            code = STATUS_CODE[status]
            if (error := faults.error_for(tag.name)) is not None:
                status, code = "bad", _status_code(error)
            key = (value, code)
            last = self._last.get(tag.name)
            if last is not None and _same(last, key):
                continue
            self._last[tag.name] = key
            variant = (
                ua.Variant(None, ua.VariantType.Null)
                if status == "bad"
                else ua.Variant(value, VARIANT_TYPE[tag.type])
            )
            await server.write_attribute_value(
                self._node_ids[tag.name],
                ua.DataValue(Value=variant, StatusCode=ua.StatusCode(code)),
            )

    def _faulted_value(self, tag: OpcUaTwinTag, t: float) -> object:
        """The value of `tag` at `t` with the value faults (frozen, spikes)."""
        value = tag.value_at(self.faults.time_for(tag.name, t))
        if tag.type in NUMERIC and tag.type is not OpcUaType.BOOLEAN:
            spike = self.faults.spike(tag.name)
            if spike:
                assert isinstance(value, int | float)
                value = typed_value(tag.type, value + spike)
        return value

    async def _build_address_space(self, server: Server) -> None:
        device = self.device
        objects = server.nodes.objects
        site = await objects.add_folder(_folder_id(device.site), _name(device.site))
        line = await site.add_folder(_folder_id(device.site, device.line), _name(device.line))
        parent = await line.add_folder(
            _folder_id(device.site, device.line, device.name), _name(device.name)
        )
        t = self._now()
        self._node_ids.clear()
        for tag in device.tags:
            nodeid = ua.NodeId.from_string(tag.node_id)
            await _add_variable(server, parent.nodeid, nodeid, tag, tag.value_at(t))
            self._node_ids[tag.name] = nodeid


def _status_code(code: int | str) -> int:
    if isinstance(code, int):
        return code
    value = opcua_status_code(code)
    return ua.StatusCodes.BadInternalError if value is None else value


class _SlowProtocol(OPCUAProtocol):  # type: ignore[misc]  # asyncua is Any
    """asyncua's connection, each request processed `latency()` seconds late."""

    def __init__(self, latency: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._latency = latency

    async def _process_one_msg(self, header: Any, buf: Any) -> bool:
        delay = self._latency()
        if delay > 0:
            await asyncio.sleep(delay)
        processed: bool = await super()._process_one_msg(header, buf)
        return processed


class _TwinBinaryServer(BinaryServer):  # type: ignore[misc]  # asyncua is Any
    def __init__(self, latency: Callable[[], float], *args: Any) -> None:
        super().__init__(*args)
        self._latency = latency

    def _make_protocol(self) -> OPCUAProtocol:
        return _SlowProtocol(
            self._latency,
            iserver=self.iserver,
            policies=self._policies,
            clients=self.clients,
            closing_tasks=self.closing_tasks,
            limits=self.limits,
        )


class TwinUaServer(Server):  # type: ignore[misc]  # asyncua is Any
    """asyncua's server whose connections answer `latency()` seconds late (the slow fault).

    `start` is asyncua's own, with the binary server replaced by one making slow connections.
    """

    def __init__(self, *, iserver: InternalServer, latency: Callable[[], float]) -> None:
        super().__init__(iserver=iserver)
        self._latency = latency

    async def start(self) -> None:
        if self.iserver.certificate is not None:
            uacrypto.check_certificate(
                self.iserver.certificate, self._application_uri, socket.gethostname()
            )
        await self._setup_server_nodes()
        await self.iserver.start()
        try:
            host, port = self._get_bind_socket_info()
            self.bserver = _TwinBinaryServer(self._latency, self.iserver, host, port, self.limits)
            self.bserver.set_policies(self._policies)
            await self.bserver.start()
        except Exception:
            await self.iserver.stop()
            raise


def _name(name: str) -> ua.QualifiedName:
    """A browse name in the twin's namespace."""
    return ua.QualifiedName(name, NAMESPACE_INDEX)


def _folder_id(*parts: str) -> ua.NodeId:
    return ua.NodeId(".".join(parts), NAMESPACE_INDEX)


def _same(a: tuple[object, int], b: tuple[object, int]) -> bool:
    # NaN != NaN: compare floats by their repr so a NaN is not rewritten every refresh
    return repr(a) == repr(b)


async def _add_variable(
    server: Server, parent: ua.NodeId, nodeid: ua.NodeId, tag: OpcUaTwinTag, value: object
) -> None:
    analog = tag.type in NUMERIC and tag.type is not OpcUaType.BOOLEAN
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nodeid
    item.BrowseName = ua.QualifiedName(tag.name, NAMESPACE_INDEX)
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
    item.TypeDefinition = ua.NodeId(
        ua.ObjectIds.AnalogItemType if analog else ua.ObjectIds.BaseDataVariableType
    )
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(tag.name)
    attrs.Description = ua.LocalizedText(
        f"{tag.name} ({tag.spec.unit})" if tag.spec.unit else tag.name
    )
    variant_type = VARIANT_TYPE[tag.type]
    attrs.DataType = ua.NodeId(variant_type.value)
    attrs.Value = ua.Variant(value, variant_type)
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.MinimumSamplingInterval = 0.0
    item.NodeAttributes = attrs
    result = await server.iserver.isession.add_nodes([item])
    result[0].StatusCode.check()
    if analog:
        node = server.get_node(nodeid)
        await node.add_property(
            ua.NodeId(f"{nodeid.Identifier}.EngineeringUnits", NAMESPACE_INDEX),
            ua.QualifiedName("EngineeringUnits", 0),
            ua.Variant(eu_information(tag.spec.unit), ua.VariantType.ExtensionObject),
            datatype=ua.ObjectIds.EUInformation,
        )
        low, high = _eu_range(tag)
        await node.add_property(
            ua.NodeId(f"{nodeid.Identifier}.EURange", NAMESPACE_INDEX),
            ua.QualifiedName("EURange", 0),
            ua.Variant(ua.Range(Low=low, High=high), ua.VariantType.ExtensionObject),
            datatype=ua.ObjectIds.Range,
        )


def _eu_range(tag: OpcUaTwinTag) -> tuple[float, float]:
    bounds = tag.signal.bounds()
    if bounds is None:
        return float("-inf"), float("inf")
    return float(bounds[0]), float(bounds[1])


def _with_port(device: OpcUaTwinDevice, port: int) -> OpcUaTwinDevice:
    import dataclasses

    return dataclasses.replace(device, port=port)
