"""Siemens S7 adapter: multi-variable reads planned to fit the PDU, with python-snap7's client.

python-snap7's `AsyncClient.read_multi_vars` sends one request per item; this adapter builds
real multi-item requests with the library's protocol encoder and reads every item's return code
itself, so one refused item (e.g. a data block that does not exist) makes only its own tags bad.

Each poll first reads SZL 0x0424 (the CPU's operating mode, as snap7's ``Cli_GetPlcStatus``):
in STOP every tag is published with quality bad and no value, and the device stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any

from snap7.async_client import AsyncClient
from snap7.datatypes import S7Area as WireArea
from snap7.datatypes import S7WordLen
from snap7.error import S7ConnectionError, S7Error

from nexus.errors import DeviceProtocolError, DeviceTimeout, DeviceUnreachable
from nexus.gateway.adapter import Reading
from nexus.gateway.adapters import raise_if_cancelled
from nexus.gateway.s7.decode import decode_value
from nexus.gateway.s7.plan import ItemTag, ReadItem, plan_items, plan_requests
from nexus.model.payload import Quality
from nexus.model.tags import S7Device

log = logging.getLogger(__name__)

CPU_RUN = 0x08
CPU_STOP = 0x04
_ITEM_OK = 0xFF
_BIT_LENGTH_SIZES = (0x03, 0x04, 0x05)  # transport sizes whose length counts bits


class S7Adapter:
    """Reads all tags of one S7 PLC, one multi-item request per planned group."""

    def __init__(self, device: S7Device) -> None:
        self.device = device
        self._timeout = device.timeout_ms / 1000
        self._client: AsyncClient | None = None
        self.requests: list[list[ReadItem]] = []
        self._members: dict[int, tuple[ItemTag, ...]] = {}
        self.pdu_size = 0
        self.cpu_state: int | None = None
        self._szl_supported = True

    @property
    def name(self) -> str:
        return self.device.name

    async def read(self) -> list[Reading]:
        try:
            async with asyncio.timeout(self._timeout):
                client = await self._connected_client()
                if not await self._cpu_running(client):
                    return [Reading(t.name, None, Quality.BAD, t.unit) for t in self.device.tags]
                readings: list[Reading] = []
                for request in self.requests:
                    readings.extend(await self._read_request(client, request))
        except TimeoutError:
            await self.close()
            raise DeviceTimeout(self.name, f"no answer within {self._timeout:g} s") from None
        except (S7ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            await self.close()
            raise DeviceUnreachable(self.name, f"connection lost: {exc}") from exc
        finally:
            raise_if_cancelled()
        return readings

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.disconnect()
            except (S7Error, OSError) as exc:
                log.debug("%s: disconnect failed: %s", self.name, exc)

    async def _connected_client(self) -> AsyncClient:
        if self._client is not None and self._client.get_connected():
            return self._client
        await self.close()
        client = AsyncClient()
        client.pdu_length = self.device.pdu_size
        try:
            await client.connect(
                self.device.host, self.device.rack, self.device.slot, self.device.port
            )
        except (S7Error, OSError) as exc:
            raise DeviceUnreachable(
                self.name, f"cannot connect to {self.device.host}:{self.device.port}: {exc}"
            ) from exc
        except BaseException:
            # Cut short (the poll's timeout, a shutdown) half way through the handshake: the
            # library only closes its socket on its own errors, so close it here, or leak it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 1.0)
            raise
        if client.pdu_length != self.pdu_size:
            self.pdu_size = client.pdu_length
            items = plan_items(list(self.device.tags), self.pdu_size, self.device.max_gap)
            self.requests = plan_requests(items, self.pdu_size)
            self._members = {id(item): item.members for item in items}
            log.info(
                "%s: PDU %d bytes, %d tags in %d items, %d requests per poll",
                self.name,
                self.pdu_size,
                len(self.device.tags),
                len(items),
                len(self.requests),
            )
        self._client = client
        return client

    async def _cpu_running(self, client: AsyncClient) -> bool:
        """False when SZL 0x0424 says STOP; True when RUN or when the PLC cannot tell."""
        if not self._szl_supported:
            return True
        try:
            szl = await client.read_szl(0x0424, 0)
        except (RuntimeError, S7Error) as exc:
            if isinstance(exc, S7ConnectionError):
                raise
            self._szl_supported = False
            log.info("%s: no CPU state (SZL 0x0424 refused: %s); assuming RUN", self.name, exc)
            return True
        data = bytes(szl.Data[: szl.Header.LengthDR])
        try:
            state = cpu_state_of(data)
        except ValueError as exc:
            raise DeviceProtocolError(self.name, str(exc)) from exc
        if state != self.cpu_state:
            if self.cpu_state is not None or state != CPU_RUN:
                log.warning("%s: CPU %s", self.name, "RUN" if state == CPU_RUN else "STOP")
            self.cpu_state = state
        return state != CPU_STOP

    async def _read_request(self, client: AsyncClient, items: list[ReadItem]) -> list[Reading]:
        protocol = client.protocol
        if len(items) == 1:
            item = items[0]
            request = protocol.build_read_request(
                WireArea(item.area_code), item.db, item.start, S7WordLen.BYTE, item.size
            )
        else:
            request = protocol.build_multi_read_request(
                [(i.area_code, i.db, i.start, i.size) for i in items]
            )
        try:
            # the library's request/response exchange (holds its lock, checks the sequence)
            response: dict[str, Any] = await client._send_receive(request)
        except S7ConnectionError:
            raise
        except S7Error as exc:  # the PLC refused the whole request
            log.debug("%s: request of %d items refused: %s", self.name, len(items), exc)
            return [Reading(t.name, None, Quality.BAD, t.unit) for i in items for t in i.tags]
        try:
            payloads = split_items(response.get("raw_data", b""), len(items))
        except ValueError as exc:
            raise DeviceProtocolError(self.name, str(exc)) from exc
        readings: list[Reading] = []
        for item, payload in zip(items, payloads, strict=True):
            members = self._members[id(item)]
            if payload is None or len(payload) != item.size:
                log.debug("%s: %s refused", self.name, item)
                readings.extend(Reading(m.name, None, Quality.BAD, m.unit) for m in members)
                continue
            readings.extend(
                Reading(
                    m.name, decode_value(m.address, payload[m.begin : m.end]), Quality.GOOD, m.unit
                )
                for m in members
            )
        return readings


def split_items(data: bytes, count: int) -> list[bytes | None]:
    """The data of each item of a read response (None for an item the PLC refused)."""
    out: list[bytes | None] = []
    offset = 0
    for i in range(count):
        if offset + 4 > len(data):
            raise ValueError(f"read response truncated at item {i + 1} of {count}")
        code, transport, length = struct.unpack_from(">BBH", data, offset)
        offset += 4
        size = (length + 7) // 8 if transport in _BIT_LENGTH_SIZES else length
        if code != _ITEM_OK:
            out.append(None)
            size = 0 if offset + size > len(data) else size
        else:
            if offset + size > len(data):
                raise ValueError(f"read response truncated in item {i + 1} of {count}")
            out.append(data[offset : offset + size])
        offset += size
        if size % 2 and i < count - 1:
            offset += 1  # fill byte
    return out


def cpu_state_of(szl_data: bytes) -> int:
    """The CPU mode from SZL 0x0424 data (LENTHDR, N_DR, then the record: byte 3 = mode).

    0x08 RUN, 0x04 STOP; older CPUs report STOP as 0x03 (snap7 reads any other value as STOP).
    """
    if len(szl_data) < 8:
        raise ValueError("SZL 0x0424 answer too short")
    mode = szl_data[7]
    return CPU_RUN if mode == CPU_RUN else CPU_STOP
