"""One simulated S7 PLC: python-snap7's server with values that follow the twin's signals.

The areas (data blocks, flags M, inputs I, outputs Q) hold exactly the bytes the tags need. The
values are encoded with python-snap7's own `snap7.util` setters (the gateway decodes with its own
code, so a bug cannot cancel out) at the moment a client reads them.

Where snap7's emulator departs from a real PLC, the twin follows the real PLC (and the S7
protocol as Wireshark and the original snap7 C library read it):

- CPU state: SZL 0x0424 (mode transitions) answers with the current mode in byte 3 of the
  record (0x08 RUN, 0x04 STOP), as ``Cli_GetPlcStatus`` reads it. In STOP the process image no
  longer changes: reads answer with the values frozen at the stop.
- Bit reads (transport size BIT) answer one bit (0 or 1), return transport size 0x03, not the
  whole byte.
- Stopping the PLC (offline) closes the connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from snap7 import util
from snap7.datatypes import S7Area as WireArea
from snap7.datatypes import S7WordLen
from snap7.error import S7Error
from snap7.s7protocol import S7Function, S7PDUType
from snap7.server import Server
from snap7.type import SrvArea

from nexus.model.s7address import S7Area, S7Type
from simulators.errors import FleetError
from simulators.faults import ActiveFaults
from simulators.s7.model import S7TwinDevice, S7TwinTag, typed_value

log = logging.getLogger(__name__)

_SRV_AREA = {
    S7Area.DB: SrvArea.DB,
    S7Area.M: SrvArea.MK,
    S7Area.I: SrvArea.PE,
    S7Area.Q: SrvArea.PA,
}
_WIRE_AREA = {
    S7Area.DB: WireArea.DB,
    S7Area.M: WireArea.MK,
    S7Area.I: WireArea.PE,
    S7Area.Q: WireArea.PA,
}

CPU_RUN = 0x08
CPU_STOP = 0x04

_SETTERS: dict[S7Type, Callable[[bytearray, int, Any], object]] = {
    S7Type.BYTE: util.set_byte,
    S7Type.USINT: util.set_usint,
    S7Type.SINT: util.set_sint,
    S7Type.WORD: util.set_word,
    S7Type.UINT: util.set_uint,
    S7Type.INT: util.set_int,
    S7Type.DWORD: util.set_dword,
    S7Type.UDINT: util.set_udint,
    S7Type.DINT: util.set_dint,
    S7Type.LWORD: util.set_lword,
    S7Type.ULINT: util.set_ulint,
    S7Type.LINT: util.set_lint,
    S7Type.REAL: util.set_real,
    S7Type.LREAL: util.set_lreal,
}


_NUMERIC = frozenset(_SETTERS)


def encode_tag(buffer: bytearray, tag: S7TwinTag, t: float) -> None:
    """Write `tag`'s value at `t` into `buffer` (its area) with snap7's setters."""
    encode_value(buffer, tag, tag.value_at(t))


def encode_faulted(buffer: bytearray, tag: S7TwinTag, t: float, faults: ActiveFaults) -> None:
    """`encode_tag` with the value faults: frozen, spikes, byte_order (little-endian)."""
    where = tag.location
    value = tag.value_at(faults.time_for(tag.name, t))
    if where.type in _NUMERIC:
        spike = faults.spike(tag.name)
        if spike:
            assert isinstance(value, int | float)
            value = typed_value(where, value + spike)
    encode_value(buffer, tag, value)
    if where.type in _NUMERIC and where.end - where.start > 1 and faults.swapped(tag.name):
        buffer[where.start : where.end] = buffer[where.start : where.end][::-1]


def encode_value(buffer: bytearray, tag: S7TwinTag, value: object) -> None:
    """Write `value` as `tag`'s type at its place in `buffer` with snap7's setters."""
    where = tag.location
    if where.type is S7Type.BOOL:
        util.set_bool(buffer, where.start, where.bit, bool(value))
    elif where.type is S7Type.STRING:
        util.set_string(buffer, where.start, str(value), max_size=where.length)
    elif where.type is S7Type.WSTRING:
        buffer[where.start : where.end] = bytes(where.size)
        util.set_wstring(buffer, where.start, str(value), max_size=where.length)
    else:
        _SETTERS[where.type](buffer, where.start, value)


class TwinS7Server(Server):
    """snap7's server with live values, the CPU state in SZL 0x0424 and spec bit reads."""

    def __init__(
        self,
        tags: dict[tuple[WireArea, int], list[S7TwinTag]],
        now: Callable[[], float],
        faults: ActiveFaults | None = None,
    ):
        super().__init__(log=False)
        self._tags = tags
        self._now = now
        self.faults = faults or ActiveFaults()
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()

    # -- values --------------------------------------------------------------------------------

    def _read_from_memory_area(
        self, area: WireArea, db_number: int, start: int, count: int
    ) -> tuple[int, bytearray]:
        key = (area, db_number)
        if key not in self.memory_areas:
            return 0x0A, bytearray()  # object does not exist
        faults = self.faults
        touched = [
            tag
            for tag in self._tags.get(key, ())
            if tag.location.start < start + count and tag.location.end > start
        ]
        code = self._error_of(touched)
        if code is not None and code <= 0xFF:
            return code, bytearray()  # protocol_error: an item-level return code
        with self.area_locks[key]:
            data = self.memory_areas[key]
            if start < 0 or count < 0 or start + count > len(data):
                return 0x05, bytearray()  # address out of range
            if self.cpu_state == CPU_RUN:
                t = self._now()
                for tag in touched:
                    if faults.touches_values:
                        encode_faulted(data, tag, t, faults)
                    else:
                        encode_tag(data, tag, t)
            return 0xFF, bytearray(data[start : start + count])

    def _error_of(self, tags: list[S7TwinTag]) -> int | None:
        """protocol_error: the code for a read touching a faulted tag (None: no error)."""
        if self.faults.error_code is None:
            return None
        for tag in tags:
            code = self.faults.error_for(tag.name)
            if isinstance(code, int):
                return code
        return None

    def _process_request(
        self, request_data: bytes, client_address: tuple[str, int]
    ) -> bytes | None:
        """slow: every request is answered `latency` late (this client's thread waits)."""
        latency = self.faults.latency_s
        if latency > 0:
            time.sleep(latency)
        response: bytes | None = super()._process_request(request_data, client_address)
        return response

    def _get_szl_data(self, szl_id: int, szl_index: int) -> bytes | None:
        if szl_id == 0x0424:
            # LENTHDR 20, N_DR 1, then one record: ereig, ae, bzu-id (the mode), ...
            record = struct.pack(">HBB", 0x4300, 0xFF, int(self.cpu_state)) + bytes(16)
            return struct.pack(">HH", len(record), 1) + record
        data: bytes | None = super()._get_szl_data(szl_id, szl_index)
        if szl_id == 0x0000 and data is not None:
            data += struct.pack(">H", 0x0424)
        return data

    # -- bit reads as a PLC answers them ---------------------------------------------------------

    def _parse_address_specification(self, addr_spec: bytes) -> dict[str, Any]:
        parsed: dict[str, Any] = super()._parse_address_specification(addr_spec)
        if parsed and parsed.get("word_len") == S7WordLen.BIT:
            parsed["bit"] = int.from_bytes(addr_spec[9:12], "big") % 8
        return parsed

    def _handle_read_area(self, request: dict[str, Any], client_address: tuple[str, int]) -> bytes:
        params = request.get("parameters") or {}
        specs = params.get("address_specs") or [params.get("address_spec") or {}]
        pdu_error = self._pdu_error(specs)
        if pdu_error is not None:  # protocol_error: the whole request refused
            error: bytes = self._build_error_response(request, pdu_error)
            return error
        if any(s.get("word_len") == S7WordLen.BIT for s in specs):
            return self._read_items(request, specs)
        response: bytes = super()._handle_read_area(request, client_address)
        return response

    def _pdu_error(self, specs: list[dict[str, Any]]) -> int | None:
        code = self.faults.error_code
        if not isinstance(code, int) or code <= 0xFF:
            return None
        for spec in specs:
            if not spec:
                continue
            size = 1 if spec.get("word_len") == S7WordLen.BIT else _item_bytes(spec)
            start, end = spec["start"], spec["start"] + size
            touched = [
                tag
                for tag in self._tags.get((spec["area"], spec["db_number"]), ())
                if tag.location.start < end and tag.location.end > start
            ]
            if self._error_of(touched) is not None:
                return code
        return None

    def _read_items(self, request: dict[str, Any], specs: list[dict[str, Any]]) -> bytes:
        data = bytearray()
        for i, spec in enumerate(specs):
            if not spec:
                data += struct.pack(">BBH", 0x05, 0x00, 0)
                continue
            bit = spec.get("word_len") == S7WordLen.BIT
            size = 1 if bit else _item_bytes(spec)
            code, raw = self._read_from_memory_area(
                spec["area"], spec["db_number"], spec["start"], size
            )
            if code != 0xFF:
                data += struct.pack(">BBH", code, 0x00, 0)
                continue
            if bit:
                value = (raw[0] >> spec["bit"]) & 1
                data += struct.pack(">BBHB", 0xFF, 0x03, 1, value)
                length = 1
            else:
                data += struct.pack(">BBH", 0xFF, 0x04, len(raw) * 8) + raw
                length = len(raw)
            if i < len(specs) - 1 and length % 2:
                data.append(0)
        header = struct.pack(
            ">BBHHHHBB", 0x32, S7PDUType.ACK_DATA, 0, request["sequence"], 2, len(data), 0, 0
        )
        return header + struct.pack(">BB", S7Function.READ_AREA, len(specs)) + bytes(data)

    # -- connections -----------------------------------------------------------------------------

    def _handle_client(self, client_socket: socket.socket, address: tuple[str, int]) -> None:
        with self._sockets_lock:
            self._sockets.add(client_socket)
        try:
            super()._handle_client(client_socket, address)
        finally:
            with self._sockets_lock:
                self._sockets.discard(client_socket)

    def stop(self) -> int:
        """Stop listening and drop every connection now (not after the 5 s read timeout)."""
        self.kill_sessions()
        result: int = super().stop()
        return result

    def kill_sessions(self) -> int:
        """Drop every open connection; the server keeps listening. Returns how many."""
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return len(sockets)


def _item_bytes(spec: dict[str, Any]) -> int:
    count = int(spec.get("count", 1))
    word_len = spec.get("word_len", S7WordLen.BYTE)
    if word_len in (S7WordLen.WORD, S7WordLen.INT, S7WordLen.COUNTER, S7WordLen.TIMER):
        return count * 2
    if word_len in (S7WordLen.DWORD, S7WordLen.DINT, S7WordLen.REAL):
        return count * 4
    return count


class S7DeviceServer:
    """Serves one `S7TwinDevice` at `host`; `now()` gives the simulated time of a request.

    `device.port` 0 picks a free port at the first start; later restarts reuse it.
    """

    def __init__(self, device: S7TwinDevice, host: str, now: Callable[[], float]) -> None:
        self.device = device
        self.host = host
        self.port = device.port
        self._now = now
        self.running = True
        self.faults = ActiveFaults()
        self._tags: dict[tuple[WireArea, int], list[S7TwinTag]] = {}
        for tag in device.tags:
            key = (_WIRE_AREA[tag.location.area], tag.location.db)
            self._tags.setdefault(key, []).append(tag)
        self._server: TwinS7Server | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is not None:
            return
        server = TwinS7Server(self._tags, self._now, self.faults)
        for tag in self.device.tags:
            where = tag.location
            key = (_WIRE_AREA[where.area], where.db)
            size = max(t.location.end for t in self._tags[key])
            if key not in server.memory_areas:
                server.register_area(_SRV_AREA[where.area], where.db, bytearray(size))
        try:
            await asyncio.to_thread(server.start_to, self.host, self.port)
        except (S7Error, OSError) as exc:
            raise FleetError(
                f"device {self.device.name} cannot listen on {self.host}:{self.port} "
                "(port in use or not allowed)"
            ) from exc
        if server.server_socket is not None:
            self.port = int(server.server_socket.getsockname()[1])
        if self.device.port != self.port:
            self.device = _with_port(self.device, self.port)
        server.set_cpu_status(CPU_RUN if self.running else CPU_STOP)
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.stop)

    def kill_sessions(self) -> int:
        """Drop every open connection (the PLC keeps listening). Returns how many."""
        return self._server.kill_sessions() if self._server is not None else 0

    def set_running(self, running: bool) -> None:
        """RUN or STOP: in STOP the values freeze and SZL 0x0424 reports STOP."""
        self.running = running
        if self._server is not None:
            self._server.set_cpu_status(CPU_RUN if running else CPU_STOP)


def _with_port(device: S7TwinDevice, port: int) -> S7TwinDevice:
    return dataclasses.replace(device, port=port)
