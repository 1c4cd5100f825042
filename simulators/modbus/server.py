"""One simulated Modbus TCP device: a pymodbus server over the new simulator datastore.

Each device gets its own `pymodbus.server.ModbusTcpServer` with one `SimDevice` whose four
tables are separate ("non-shared" blocks: coils, discrete inputs, holding, input registers), so
every table is addressed on its own and a coil or discrete input is one bit per address.

Only the tags' addresses exist: a register read touching any address that is not part of a tag
answers ILLEGAL_ADDRESS (exception code 2). pymodbus keeps bit tables in 16-bit words, so for
coils and discrete inputs the check is on the first requested bit (it must be a tag); bits in
gaps between tags read as 0, and a read running past the last tag fails only beyond the end of
that tag's 16-bit word. A table without tags answers ILLEGAL_ADDRESS to every read.

The twin is read-only: every write answers ILLEGAL_FUNCTION (exception code 1).

Values follow the signals through SimDevice's `action` callback, called by pymodbus on every
request with the table's register list: it encodes only the requested tags at the simulated
time of the request, in place. This is exact (the value is the one at the moment of the read)
and costs nothing while nobody reads: a fleet of 1,000 devices polled once a second encodes
each tag once a second, whereas refreshing every register on a periodic task would cost
10× that at 100 ms and still serve values up to 100 ms old.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import logging
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from nexus.model.tags import DataType, RegisterTable
from simulators.errors import FleetError
from simulators.faults import ActiveFaults
from simulators.modbus.encoding import encode_value
from simulators.twin import TwinDevice, TwinTag

log = logging.getLogger(__name__)

_TABLES = (
    RegisterTable.COIL,
    RegisterTable.DISCRETE_INPUT,
    RegisterTable.HOLDING,
    RegisterTable.INPUT,
)
_NUMERIC = frozenset(DataType) - {DataType.BOOL, DataType.STRING}
_FUNCTION_TABLE = {
    1: RegisterTable.COIL,
    5: RegisterTable.COIL,
    15: RegisterTable.COIL,
    2: RegisterTable.DISCRETE_INPUT,
    3: RegisterTable.HOLDING,
    6: RegisterTable.HOLDING,
    16: RegisterTable.HOLDING,
    22: RegisterTable.HOLDING,
    23: RegisterTable.HOLDING,
    4: RegisterTable.INPUT,
}


class _TableTags:
    """The tags of one table, sorted by address, to find those a request touches."""

    __slots__ = ("addresses", "starts", "tags")

    def __init__(self, tags: list[TwinTag]) -> None:
        self.tags = sorted(tags, key=lambda t: t.address)
        self.starts = [t.address for t in self.tags]
        self.addresses = frozenset(t.address for t in self.tags)

    def touching(self, lo: int, hi: int) -> list[TwinTag]:
        """Tags occupying any address in [lo, hi)."""
        i = bisect.bisect_left(self.starts, lo)
        if i > 0 and self.tags[i - 1].end > lo:  # a multi-register tag starting before lo
            i -= 1
        j = bisect.bisect_left(self.starts, hi)
        return self.tags[i:j]


class DeviceServer:
    """Serves one `TwinDevice` at `host`; `now()` gives the simulated time of a request.

    `device.port` 0 picks a free port at the first start; `device` and `port` then hold the
    real one, which later restarts reuse.
    """

    def __init__(self, device: TwinDevice, host: str, now: Callable[[], float]) -> None:
        self.device = device
        self.host = host
        self.port = device.port
        self.silent = False
        self.faults = ActiveFaults()
        self._now = now
        self._tables = {
            table: _TableTags([t for t in device.tags if t.table is table]) for table in _TABLES
        }
        self._server: ModbusTcpServer | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen; return once the port accepts connections. Port 0 picks a free port."""
        if self._server is not None:
            return
        server = ModbusTcpServer(
            context=self._sim_device(),
            address=(self.host, self.port),
            trace_packet=self._trace_packet,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            await server.shutdown()  # type: ignore[no-untyped-call]
            raise FleetError(
                f"device {self.device.name} cannot listen on {self.host}:{self.port} "
                "(port in use or not allowed)"
            ) from exc
        listener = server.transport
        if isinstance(listener, asyncio.Server) and listener.sockets:
            self.port = int(listener.sockets[0].getsockname()[1])
            if self.device.port != self.port:
                self.device = dataclasses.replace(self.device, port=self.port)
        self._server = server

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]

    def kill_sessions(self) -> int:
        """Drop every open connection; the port stays open. Returns how many were dropped."""
        if self._server is None:
            return 0
        connections = list(self._server.active_connections.values())
        for connection in connections:
            connection.close()
        return len(connections)

    def _sim_device(self) -> SimDevice:
        blocks: list[list[SimData]] = []
        for table in _TABLES:
            tags = self._tables[table].tags
            if table.is_bit:
                data = [SimData(t.address, values=[False], datatype=SimType.BITS) for t in tags]
                data = data or [SimData(0, values=[False], datatype=SimType.BITS)]
            else:
                data = [
                    SimData(t.address, values=[0] * (t.end - t.address), datatype=SimType.REGISTERS)
                    for t in tags
                ]
                data = data or [SimData(0, datatype=SimType.INVALID)]
            blocks.append(data)
        return SimDevice(
            id=self.device.unit_id,
            simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
            action=self._action,
        )

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        """A silent device swallows its answers (the request is still read)."""
        return b"" if sending and self.silent else data

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Write the requested tags' current values into `registers` before pymodbus reads them.

        pymodbus passes for registers: start_address = address of registers[0], count in
        registers; for bits: start_address = index of the 16-bit word registers[0], address =
        first requested bit, count = number of words the request spans.
        """
        faults = self.faults
        if faults.latency_s > 0:  # slow: every request, answered late
            await asyncio.sleep(faults.latency_s)
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        table = _FUNCTION_TABLE.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        tags = self._tables[table]
        t = self._now()
        if table.is_bit:
            if address not in tags.addresses:
                return ExcCodes.ILLEGAL_ADDRESS
            first_word = address // 16
            touched = tags.touching(first_word * 16, (first_word + count) * 16)
            if (error := self._error(touched)) is not None:
                return error
            for tag in touched:
                word = tag.address // 16 - start_address
                mask = 1 << (tag.address % 16)
                if tag.raw_at(faults.time_for(tag.name, t)):
                    registers[word] |= mask
                else:
                    registers[word] &= ~mask
            return None
        touched = tags.touching(address, address + count)
        if (error := self._error(touched)) is not None:
            return error
        for tag in touched:
            base = tag.address - start_address
            values = self._registers(tag, t) if faults.touches_values else tag.registers_at(t)
            registers[base : base + len(values)] = values
        return None

    def _error(self, tags: list[TwinTag]) -> ExcCodes | None:
        """protocol_error: the exception code for a request touching a faulted tag."""
        faults = self.faults
        if faults.error_code is None:
            return None
        for tag in tags:
            code = faults.error_for(tag.name)
            if isinstance(code, int):
                return ExcCodes(code)
        return None

    def _registers(self, tag: TwinTag, t: float) -> list[int]:
        """The registers of `tag` at `t` with the value faults (frozen, spikes, byte_order)."""
        faults = self.faults
        t = faults.time_for(tag.name, t)
        spike = faults.spike(tag.name) if tag.tag.type in _NUMERIC else 0.0
        if spike:
            value = tag.value_at(t)
            assert isinstance(value, int | float)
            values = encode_value(tag.tag, value + spike)
        else:
            values = tag.registers_at(t)
        if len(values) > 1 and tag.tag.type in _NUMERIC and faults.swapped(tag.name):
            values = values[::-1]  # the words of a multi-register value in reverse order
        return values
