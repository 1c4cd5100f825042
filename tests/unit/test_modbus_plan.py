from __future__ import annotations

from nexus.gateway.modbus.plan import plan_reads
from nexus.model.tags import DataType, ModbusTag, RegisterTable


def tag(
    name: str,
    address: int,
    dtype: DataType = DataType.UINT16,
    table: RegisterTable = RegisterTable.HOLDING,
) -> ModbusTag:
    return ModbusTag(name=name, address=address, type=dtype, table=table)


def test_adjacent_registers_merge_into_one_request() -> None:
    blocks = plan_reads([tag("a", 0), tag("b", 1, DataType.FLOAT32), tag("c", 3, DataType.FLOAT64)])
    assert [(b.address, b.count) for b in blocks] == [(0, 7)]
    assert [t.name for t in blocks[0].tags] == ["a", "b", "c"]


def test_gaps_split_blocks_and_tables_never_mix() -> None:
    blocks = plan_reads(
        [
            tag("a", 0),
            tag("b", 5),
            tag("c", 0, table=RegisterTable.INPUT),
            tag("d", 0, DataType.BOOL, RegisterTable.COIL),
            tag("e", 1, DataType.BOOL, RegisterTable.COIL),
        ]
    )
    assert [(b.table, b.address, b.count) for b in blocks] == [
        (RegisterTable.COIL, 0, 2),
        (RegisterTable.HOLDING, 0, 1),
        (RegisterTable.HOLDING, 5, 1),
        (RegisterTable.INPUT, 0, 1),
    ]


def test_blocks_never_exceed_125_registers() -> None:
    tags = [tag(f"t{i}", i * 2, DataType.FLOAT32) for i in range(200)]  # 400 contiguous registers
    blocks = plan_reads(tags)
    assert all(b.count <= 125 for b in blocks)
    assert sum(len(b.tags) for b in blocks) == 200
    assert len(blocks) == 4  # 62 float32 per 124-register block → ceil(200 / 62)


def test_max_gap_allows_reading_through_holes() -> None:
    assert len(plan_reads([tag("a", 0), tag("b", 3)], max_gap=2)) == 1
    assert len(plan_reads([tag("a", 0), tag("b", 3)], max_gap=1)) == 2
