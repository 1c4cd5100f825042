"""Group a device's tags into as few Modbus read requests as possible."""

from __future__ import annotations

from dataclasses import dataclass

from nexus.model.tags import ModbusTag, RegisterTable

MAX_BITS_PER_READ = 2000
"""Modbus limit for read coils / discrete inputs (function codes 1 and 2)."""


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a contiguous address range of one table and the tags inside it."""

    table: RegisterTable
    address: int
    count: int
    tags: tuple[ModbusTag, ...]

    def slice_for(self, tag: ModbusTag) -> slice:
        start = tag.address - self.address
        return slice(start, start + tag.register_count)


def plan_reads(
    tags: list[ModbusTag], max_registers: int = 125, max_gap: int = 0
) -> list[ReadBlock]:
    """Merge tags of each table whose addresses are adjacent (or overlap) into read blocks.

    `max_gap` unused addresses may be read between two tags to save a request; the default 0
    never reads an address that no tag names, because many devices answer such a read with an
    illegal-address exception.
    """
    limit_regs = max_registers
    blocks: list[ReadBlock] = []
    for table in RegisterTable:
        limit = MAX_BITS_PER_READ if table.is_bit else limit_regs
        members = sorted((t for t in tags if t.table is table), key=lambda t: t.address)
        current: list[ModbusTag] = []
        start = end = 0
        for tag in members:
            tag_end = tag.address + tag.register_count
            if current and tag.address <= end + max_gap and max(end, tag_end) - start <= limit:
                current.append(tag)
                end = max(end, tag_end)
                continue
            if current:
                blocks.append(ReadBlock(table, start, end - start, tuple(current)))
            current, start, end = [tag], tag.address, tag_end
        if current:
            blocks.append(ReadBlock(table, start, end - start, tuple(current)))
    return blocks
