"""The zero-loss ledger checker, in the spirit of Jepsen's set checker.

Input: every point the broker acknowledged to a gateway (the gateways' AckLedger files, one
file per gateway run, since sequence numbers restart at 1 with each run) and every row of the
historian. Points are keyed by `(topic, ts)`, the historian's unique key. Per device it reports:

- delivered: acknowledged points stored exactly once or more
- lost: acknowledged points not stored (named by gateway run and sequence numbers)
- duplicated: keys stored more than once
- unacknowledged: stored points absent from the ledger (a killed gateway's unflushed ledger
  tail, or a message stored before its PUBACK reached the gateway): not a failure
- latency: stored_at − ts percentiles over delivered points
- acquisition gap: the longest time without an acknowledged point of the device
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from nexus.gateway.ledger import read_ledger

Key = tuple[str, int]


@dataclass(frozen=True)
class AckedPoint:
    """A point the broker acknowledged: from one gateway run's ledger file."""

    topic: str
    ts: int
    seq: int
    gateway: str
    run: str
    acked_ms: int

    @property
    def key(self) -> Key:
        return (self.topic, self.ts)


@dataclass(frozen=True)
class StoredRow:
    topic: str
    ts: int
    stored_ms: int

    @property
    def key(self) -> Key:
        return (self.topic, self.ts)


def device_of(topic: str) -> str:
    """`dev/site/line/device` of a tag topic `dev/site/line/device/tag`."""
    return topic.rsplit("/", 1)[0]


@dataclass(frozen=True)
class SeqRange:
    run: str
    first: int
    last: int

    def __str__(self) -> str:
        seqs = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.run} seq {seqs}"


@dataclass
class DeviceLedger:
    device: str
    acknowledged: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    unacknowledged: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    latency_max_ms: float | None = None
    max_gap_s: float = 0.0
    gap_at_ms: int | None = None
    lost_seqs: list[SeqRange] = field(default_factory=list)
    duplicated_keys: list[Key] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "device": self.device,
            "acknowledged": self.acknowledged,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "unacknowledged": self.unacknowledged,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "latency_max_ms": self.latency_max_ms,
            "max_gap_s": round(self.max_gap_s, 3),
            "gap_at_ms": self.gap_at_ms,
            "lost_seqs": [str(r) for r in self.lost_seqs],
            "duplicated_keys": [list(k) for k in self.duplicated_keys[:20]],
        }


@dataclass
class LedgerReport:
    devices: list[DeviceLedger]
    latency_p99_ms: float | None
    latency_p50_ms: float | None

    @property
    def acknowledged(self) -> int:
        return sum(d.acknowledged for d in self.devices)

    @property
    def delivered(self) -> int:
        return sum(d.delivered for d in self.devices)

    @property
    def lost(self) -> int:
        return sum(d.lost for d in self.devices)

    @property
    def duplicates(self) -> int:
        return sum(d.duplicated for d in self.devices)

    @property
    def unacknowledged(self) -> int:
        return sum(d.unacknowledged for d in self.devices)

    @property
    def max_gap_s(self) -> float:
        return max((d.max_gap_s for d in self.devices), default=0.0)

    def device(self, name: str) -> DeviceLedger:
        for entry in self.devices:
            if entry.device == name:
                return entry
        raise KeyError(name)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending sequence."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def seq_ranges(points: Iterable[AckedPoint]) -> list[SeqRange]:
    """Consecutive sequence numbers of each gateway run folded into ranges."""
    by_run: dict[str, set[int]] = defaultdict(set)
    for point in points:
        by_run[point.run].add(point.seq)
    ranges: list[SeqRange] = []
    for run in sorted(by_run):
        seqs = sorted(by_run[run])
        start = prev = seqs[0]
        for seq in seqs[1:]:
            if seq != prev + 1:
                ranges.append(SeqRange(run, start, prev))
                start = seq
            prev = seq
        ranges.append(SeqRange(run, start, prev))
    return ranges


def check(
    acked: Iterable[AckedPoint],
    stored: Iterable[StoredRow],
    *,
    window_ms: tuple[int, int] | None = None,
) -> LedgerReport:
    """Compare the acknowledged points with the historian's rows.

    `window_ms` (start, end) is when the devices were meant to be polled: the acquisition gap
    also counts the time from its start to a device's first point and from its last to its end.
    """
    acked_by_key: dict[Key, AckedPoint] = {}
    for point in acked:
        acked_by_key.setdefault(point.key, point)  # the same point acknowledged twice: once
    stored_count: Counter[Key] = Counter()
    stored_at: dict[Key, int] = {}
    for row in stored:
        stored_count[row.key] += 1
        stored_at.setdefault(row.key, row.stored_ms)
        stored_at[row.key] = min(stored_at[row.key], row.stored_ms)

    devices: dict[str, DeviceLedger] = {}
    lost_points: dict[str, list[AckedPoint]] = defaultdict(list)
    latencies: dict[str, list[float]] = defaultdict(list)
    times: dict[str, set[int]] = defaultdict(set)

    def entry(name: str) -> DeviceLedger:
        if name not in devices:
            devices[name] = DeviceLedger(name)
        return devices[name]

    for key, point in acked_by_key.items():
        name = device_of(point.topic)
        ledger = entry(name)
        ledger.acknowledged += 1
        times[name].add(point.ts)
        if stored_count[key]:
            ledger.delivered += 1
            latencies[name].append(stored_at[key] - point.ts)
        else:
            ledger.lost += 1
            lost_points[name].append(point)
    for key, count in stored_count.items():
        ledger = entry(device_of(key[0]))
        if count > 1:
            ledger.duplicated += count - 1
            ledger.duplicated_keys.append(key)
        if key not in acked_by_key:
            ledger.unacknowledged += 1

    every_latency: list[float] = []
    for name, ledger in devices.items():
        values = sorted(latencies[name])
        every_latency.extend(values)
        ledger.latency_p50_ms = percentile(values, 50)
        ledger.latency_p99_ms = percentile(values, 99)
        ledger.latency_max_ms = values[-1] if values else None
        ledger.lost_seqs = seq_ranges(lost_points[name])
        ledger.duplicated_keys.sort()
        ledger.max_gap_s, ledger.gap_at_ms = _max_gap(sorted(times[name]), window_ms)
    every_latency.sort()
    return LedgerReport(
        devices=[devices[name] for name in sorted(devices)],
        latency_p99_ms=percentile(every_latency, 99),
        latency_p50_ms=percentile(every_latency, 50),
    )


def _max_gap(ts: list[int], window_ms: tuple[int, int] | None) -> tuple[float, int | None]:
    """The longest interval without a point (seconds) and where it starts (ms)."""
    edges = list(ts)
    if window_ms is not None:
        start, end = window_ms
        edges = [min(start, ts[0]), *edges] if ts else [start]
        edges.append(max(end, edges[-1]))
    best, at = 0, None
    for before, after in itertools.pairwise(edges):
        if after - before > best:
            best, at = after - before, before
    return best / 1000, at


def read_acked(paths: Iterable[Path]) -> list[AckedPoint]:
    """Every acknowledged point of the given ledger files; the run is the file's stem."""
    points: list[AckedPoint] = []
    for path in paths:
        for r in read_ledger(path):
            points.append(AckedPoint(r.topic, r.ts, r.seq, r.gw, path.stem, r.acked_ms))
    return points


class LedgerCounter:
    """Counts the complete lines of growing ledger files without re-reading them (progress)."""

    def __init__(self) -> None:
        self._offsets: dict[Path, int] = {}
        self.lines = 0

    def update(self, paths: list[Path]) -> int:
        for path in paths:
            offset = self._offsets.get(path, 0)
            try:
                with path.open("rb") as file:
                    file.seek(offset)
                    data = file.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1  # a torn last line is counted once complete
            self.lines += data.count(b"\n", 0, end)
            self._offsets[path] = offset + end
        return self.lines


STORED_ROWS_QUERY = """
SELECT topic, (extract(epoch FROM time) * 1000)::bigint AS ts,
       (extract(epoch FROM stored_at) * 1000)::bigint AS stored_ms
FROM metrics
"""


async def fetch_stored_rows(conn: asyncpg.Connection) -> list[StoredRow]:
    """Every row of the historian, as the ledger checker compares them (any target)."""
    rows = await conn.fetch(STORED_ROWS_QUERY)
    return [StoredRow(r["topic"], r["ts"], r["stored_ms"]) for r in rows]
