"""Modbus TCP adapter: planned block reads with the async pymodbus client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from nexus.errors import DeviceProtocolError, DeviceTimeout, DeviceUnreachable
from nexus.gateway.adapter import Reading
from nexus.gateway.adapters import raise_if_cancelled
from nexus.gateway.modbus.decode import decode_registers
from nexus.gateway.modbus.plan import ReadBlock, plan_reads
from nexus.model.payload import Quality
from nexus.model.tags import ModbusDevice, RegisterTable

log = logging.getLogger(__name__)


class ModbusAdapter:
    """Reads all tags of one Modbus device, one request per planned block."""

    def __init__(self, device: ModbusDevice) -> None:
        self.device = device
        self.blocks: list[ReadBlock] = plan_reads(list(device.tags), device.max_registers_per_read)
        self._timeout = device.timeout_ms / 1000
        self._client: AsyncModbusTcpClient | None = None

    @property
    def name(self) -> str:
        return self.device.name

    async def read(self) -> list[Reading]:
        client = await self._connected_client()
        readings: list[Reading] = []
        try:
            async with asyncio.timeout(self._timeout):
                for block in self.blocks:
                    readings.extend(await self._read_block(client, block))
        except TimeoutError:
            await self.close()
            raise DeviceTimeout(self.name, f"no answer within {self._timeout:g} s") from None
        except (ConnectionException, ModbusIOException, OSError) as exc:
            await self.close()
            raise DeviceUnreachable(self.name, f"connection lost: {exc}") from exc
        finally:
            raise_if_cancelled()
        return readings

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _connected_client(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        await self.close()
        client = AsyncModbusTcpClient(
            self.device.host,
            port=self.device.port,
            timeout=self._timeout,
            retries=0,
            reconnect_delay=0,
            name=self.device.name,
        )
        try:
            async with asyncio.timeout(self._timeout):
                ok = await client.connect()
        except TimeoutError:
            ok = False
        if not ok:
            client.close()
            raise DeviceUnreachable(
                self.name, f"cannot connect to {self.device.host}:{self.device.port}"
            )
        self._client = client
        return client

    async def _read_block(self, client: AsyncModbusTcpClient, block: ReadBlock) -> list[Reading]:
        unit = self.device.unit_id
        try:
            match block.table:
                case RegisterTable.HOLDING:
                    rr = await client.read_holding_registers(
                        block.address, count=block.count, device_id=unit
                    )
                case RegisterTable.INPUT:
                    rr = await client.read_input_registers(
                        block.address, count=block.count, device_id=unit
                    )
                case RegisterTable.COIL:
                    rr = await client.read_coils(block.address, count=block.count, device_id=unit)
                case RegisterTable.DISCRETE_INPUT:
                    rr = await client.read_discrete_inputs(
                        block.address, count=block.count, device_id=unit
                    )
        except ModbusIOException:
            raise
        except ModbusException as exc:
            raise DeviceProtocolError(self.name, str(exc)) from exc
        if rr.isError():
            log.debug(
                "device %s: exception %s on %s %d+%d",
                self.name,
                getattr(rr, "exception_code", "?"),
                block.table.value,
                block.address,
                block.count,
            )
            return [Reading(t.name, None, Quality.BAD, t.unit) for t in block.tags]
        if block.table.is_bit:
            bits: Sequence[bool] = rr.bits
            return [
                Reading(t.name, bool(bits[t.address - block.address]), Quality.GOOD, t.unit)
                for t in block.tags
            ]
        regs: Sequence[int] = rr.registers
        return [
            Reading(
                t.name, decode_registers(t, list(regs[block.slice_for(t)])), Quality.GOOD, t.unit
            )
            for t in block.tags
        ]
