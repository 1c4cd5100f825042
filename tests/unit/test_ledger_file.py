from __future__ import annotations

from pathlib import Path

from nexus.gateway.ledger import AckLedger, read_ledger
from nexus.model.payload import PointPayload


def test_records_round_trip_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "ledger" / "gw-1.jsonl"
    ledger = AckLedger(path, flush_every=2)
    for seq in range(1, 6):
        ledger.record(
            "dev/s/l/d/t", PointPayload(v=1.0, ts=1703289600000 + seq, seq=seq, gw="gw-1")
        )
    ledger.close()
    with path.open("ab") as file:
        file.write(b'{"topic": "dev/s/l/d/t", "se')  # a writer killed mid-line
    records = read_ledger(path)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert {r.gw for r in records} == {"gw-1"}
    assert all(r.acked_ms >= r.ts for r in records)
