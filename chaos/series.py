"""Per-second series of a run, for the report's timeline: points/s published (acknowledged)
and stored, the backlog between them, replicas, and the end-to-end latency of stored points."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.ledger import AckedPoint, StoredRow, percentile


@dataclass(frozen=True)
class SecondStats:
    t: int
    published: int
    stored: int
    backlog: int
    latency_p99_ms: float | None
    gateways: int | None
    ingests: int | None


def per_second(
    acked: Sequence[AckedPoint],
    rows: Sequence[StoredRow],
    start_ms: int,
    end_ms: int,
    replicas: dict[int, dict[str, int]],
) -> list[SecondStats]:
    """One entry per second from `start_ms` to `end_ms`; `replicas` maps a second to counts."""
    published: dict[int, int] = defaultdict(int)
    stored: dict[int, int] = defaultdict(int)
    latencies: dict[int, list[float]] = defaultdict(list)
    ts_of = {p.key: p.ts for p in acked}
    for point in acked:
        published[(point.acked_ms - start_ms) // 1000] += 1
    for row in rows:
        second = (row.stored_ms - start_ms) // 1000
        stored[second] += 1
        if row.key in ts_of:
            latencies[second].append(row.stored_ms - ts_of[row.key])
    out: list[SecondStats] = []
    backlog = 0
    last: dict[str, int] = {}
    for t in range(0, max(1, (end_ms - start_ms) // 1000 + 1)):
        backlog = max(0, backlog + published[t] - stored[t])
        last = replicas.get(t, last)
        out.append(
            SecondStats(
                t=t,
                published=published[t],
                stored=stored[t],
                backlog=backlog,
                latency_p99_ms=percentile(sorted(latencies[t]), 99),
                gateways=last.get("gateway"),
                ingests=last.get("ingest"),
            )
        )
    return out
