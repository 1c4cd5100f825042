"""The summary of a device-swarm run: the figures of the last JSON line of ``load.smoke``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunSummary:
    users: int
    """The most devices (Locust users) running at once."""
    duration_s: float
    """From the start of the test until it began to stop."""
    points_per_s: float
    """Points acknowledged by the broker per second of ``duration_s``."""
    publish_p50_ms: float | None
    publish_p95_ms: float | None
    e2e_p50_ms: float | None
    e2e_p95_ms: float | None
    failures: int
    """Locust failures: refused publishes, PUBACK timeouts, sampled points never stored."""
    lost: int | None
    """Acknowledged points not in the historian after the drain (None: no ledger was kept)."""
    messages_published: int = 0
    messages_acked: int = 0
    points_published: int = 0
    points_acked: int = 0
    e2e_samples: int = 0
    e2e_exact: bool = False
    """True when E2E came from commit timestamps, False when from the sampler's query time."""
    drain_s: float | None = None
    payload_form: str = "batch"
    tags_per_device: int = 0
    rate_per_device: float = 0.0
    lost_sample: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0 and self.lost == 0 and self.points_per_s > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> RunSummary:
        return cls(**json.loads(path.read_text(encoding="utf-8")))
