from __future__ import annotations

from pathlib import Path

import pytest

from nexus.gateway.spool import DiskSpool, Record


def body(i: int) -> bytes:
    return f'{{"n": {i}}}'.encode() + b"x" * 200


def test_records_come_back_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, segment_bytes=1024, max_bytes=1024 * 1024)
    for i in range(30):
        spool.append(f"dev/s/l/d{i % 3}", body(i))
    assert spool.pending
    first, position = spool.read(10)
    assert [b for _, b in first] == [body(i) for i in range(10)]
    spool.commit(position)
    spool.close()

    reopened = DiskSpool(tmp_path, segment_bytes=1024, max_bytes=1024 * 1024)
    rest, position = reopened.read(100)
    assert [b for _, b in rest] == [body(i) for i in range(10, 30)]
    assert rest[0][0] == "dev/s/l/d1"
    reopened.commit(position)
    assert not reopened.pending
    assert len(list(tmp_path.glob("*.seg"))) <= 1  # acknowledged segments are deleted
    reopened.close()


def test_a_full_spool_drops_the_oldest_and_reports_them(tmp_path: Path) -> None:
    dropped: list[Record] = []
    spool = DiskSpool(tmp_path, segment_bytes=1024, max_bytes=4096, on_evict=dropped.extend)
    for i in range(100):
        spool.append("dev/s/l/d", body(i))
    assert spool.size_bytes <= 4096 + 1024
    kept, _ = spool.read(1000)
    numbers = [int(b.split(b"}")[0].split(b": ")[1]) for _, b in kept]
    lost = [int(b.split(b"}")[0].split(b": ")[1]) for _, b in dropped]
    assert sorted(lost + numbers) == list(range(100))  # every record kept or reported, once
    assert numbers == sorted(numbers)
    assert numbers[-1] == 99
    assert spool.evicted_records == len(dropped) > 0
    spool.close()


def test_a_torn_record_is_not_read(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, segment_bytes=1024, max_bytes=8192)
    spool.append("dev/s/l/d", body(1))
    spool.close()
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as file:
        file.write(b"\x00\x00\x00\x09\x00\x00")  # a writer killed mid-header
    reopened = DiskSpool(tmp_path, segment_bytes=1024, max_bytes=8192)
    records, _ = reopened.read(10)
    reopened.close()
    assert [b for _, b in records] == [body(1)]


def test_bounds_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="segment"):
        DiskSpool(tmp_path, segment_bytes=1024, max_bytes=1024)
