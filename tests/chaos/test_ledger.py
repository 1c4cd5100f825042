"""The ledger checker on in-memory data: it names exactly the lost and duplicated points."""

from __future__ import annotations

from pathlib import Path

from chaos.ledger import AckedPoint, StoredRow, check, percentile, read_acked, seq_ranges
from chaos.scenario import Expectations
from chaos.verdict import unmet
from nexus.gateway.ledger import AckLedger
from nexus.model.payload import PointPayload

T0 = 1_700_000_000_000
DEVICES = ("dev/s/l/a", "dev/s/l/b")


def acked_stream(run: str = "gw-0.1", polls: int = 10, every_ms: int = 100) -> list[AckedPoint]:
    """Two devices, two tags each, one poll every `every_ms`; seq per device."""
    points = []
    for device in DEVICES:
        seq = 0
        for i in range(polls):
            for tag in ("x", "y"):
                seq += 1
                ts = T0 + i * every_ms
                points.append(AckedPoint(f"{device}/{tag}", ts, seq, "gw-0", run, ts + 5))
    return points


def stored_for(points: list[AckedPoint], latency_ms: int = 20) -> list[StoredRow]:
    return [StoredRow(p.topic, p.ts, p.ts + latency_ms) for p in points]


def test_everything_stored_once_is_delivered_with_no_loss() -> None:
    points = acked_stream()
    report = check(points, stored_for(points))
    assert (report.acknowledged, report.delivered, report.lost, report.duplicates) == (40, 40, 0, 0)
    assert report.latency_p99_ms == 20
    assert unmet(report, Expectations(), {}) == []


def test_exact_lost_points_are_named_by_device_and_sequence_numbers() -> None:
    points = acked_stream()
    missing = {p for p in points if p.topic.startswith("dev/s/l/b/") and p.seq in (5, 6, 7, 12)}
    report = check(points, stored_for([p for p in points if p not in missing]))
    assert report.lost == 4
    assert report.device("dev/s/l/a").lost == 0
    b = report.device("dev/s/l/b")
    assert b.lost == 4
    assert [str(r) for r in b.lost_seqs] == ["gw-0.1 seq 5-7", "gw-0.1 seq 12"]
    failures = unmet(report, Expectations(), {})
    assert failures[0] == "lost 4 acknowledged points (allowed 0)"
    assert failures[1] == "  dev/s/l/b: 4 lost: gw-0.1 seq 5-7, gw-0.1 seq 12"
    assert len(failures) == 2


def test_duplicates_are_counted_and_named() -> None:
    points = acked_stream()
    twice = points[3]
    report = check(points, [*stored_for(points), StoredRow(twice.topic, twice.ts, twice.ts + 900)])
    assert report.lost == 0
    assert report.duplicates == 1
    assert report.device("dev/s/l/a").duplicated_keys == [twice.key]
    failures = unmet(report, Expectations(), {})
    assert failures[0] == "1 duplicate rows (allowed 0)"
    assert f"{twice.topic}@{twice.ts}" in failures[1]


def test_seqs_restart_with_a_gateway_run_and_are_named_per_run() -> None:
    first = acked_stream(run="gw-0.1", polls=5)
    second = [
        AckedPoint(p.topic, p.ts + 10_000, p.seq, p.gateway, "gw-0.2", p.acked_ms + 10_000)
        for p in acked_stream(polls=5)
    ]
    gone = {p for p in first + second if p.topic == "dev/s/l/a/x" and p.seq == 1}
    points = first + second
    report = check(points, stored_for([p for p in points if p not in gone]))
    assert [str(r) for r in report.device("dev/s/l/a").lost_seqs] == [
        "gw-0.1 seq 1",
        "gw-0.2 seq 1",
    ]


def test_stored_but_never_acknowledged_is_not_a_failure() -> None:
    points = acked_stream()
    extra = StoredRow("dev/s/l/a/x", T0 + 999_999, T0 + 999_999)
    report = check(points, [*stored_for(points), extra])
    assert report.unacknowledged == 1
    assert unmet(report, Expectations(), {}) == []


def test_acquisition_gap_is_the_longest_time_without_a_point() -> None:
    points = [p for p in acked_stream(polls=30) if not 10 <= (p.ts - T0) // 100 < 20]
    report = check(points, stored_for(points), window_ms=(T0, T0 + 3000))
    assert report.device("dev/s/l/a").max_gap_s == 1.1  # polls 9 → 20
    assert report.device("dev/s/l/a").gap_at_ms == T0 + 900
    failures = unmet(report, Expectations(max_gap_s=1.0), {})
    assert len(failures) == 2
    assert failures[0].startswith("dev/s/l/a: acquisition gap 1.1 s > 1 s")


def test_latency_and_replica_expectations() -> None:
    points = acked_stream()
    report = check(points, stored_for(points, latency_ms=5000))
    failures = unmet(report, Expectations(latency_p99_ms=1000, replicas_reached={"ingest": 3}), {})
    assert failures == [
        "latency p99 5000 ms > 1000 ms",
        "ingest reached 0 replicas, expected 3",
    ]


def test_percentile_and_ranges() -> None:
    assert percentile([], 99) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
    points = [AckedPoint("t", i, s, "g", "r", 0) for i, s in enumerate([1, 2, 3, 7, 9, 10])]
    assert [str(r) for r in seq_ranges(points)] == ["r seq 1-3", "r seq 7", "r seq 9-10"]


def test_reads_the_gateways_ledger_files(tmp_path: Path) -> None:
    path = tmp_path / "gw-0.1.jsonl"
    ledger = AckLedger(path)
    ledger.record("dev/s/l/a/x", PointPayload(v=1.0, ts=T0, seq=1, gw="gw-0"))
    ledger.close()
    with path.open("ab") as file:
        file.write(b'{"topic": "torn')  # a writer killed mid-line
    [point] = read_acked([path])
    assert (point.topic, point.ts, point.seq, point.gateway, point.run) == (
        "dev/s/l/a/x",
        T0,
        1,
        "gw-0",
        "gw-0.1",
    )
