"""An append-only record of every point the broker acknowledged, for the zero-loss ledger.

Enabled with ``NEXUS_GATEWAY_LEDGER=/path/file.jsonl`` (scenarios and chaos runs set it). One JSON
line per point: ``{"topic": ..., "seq": ..., "ts": ..., "gw": ..., "acked_ms": ...}``. Lines are
buffered and flushed every ``flush_every`` points and on close; a gateway killed with SIGKILL
loses its unflushed tail of the *record*, never of the data, so the checker counts at most those
points as unaccounted, never as lost.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO

import msgspec

from nexus.model.payload import PointPayload


class AckRecord(msgspec.Struct, frozen=True):
    topic: str
    seq: int
    ts: int
    gw: str
    acked_ms: int


class AckLedger:
    def __init__(self, path: str | Path, *, flush_every: int = 200) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = self.path.open("ab")
        self._encoder = msgspec.json.Encoder()
        self._flush_every = flush_every
        self._unflushed = 0

    def record(self, topic: str, point: PointPayload) -> None:
        acked = time.time_ns() // 1_000_000
        line = self._encoder.encode(AckRecord(topic, point.seq, point.ts, point.gw, acked))
        self._file.write(line + b"\n")
        self._unflushed += 1
        if self._unflushed >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        self._file.flush()
        self._unflushed = 0

    def close(self) -> None:
        self.flush()
        self._file.close()


def read_ledger(path: str | Path) -> list[AckRecord]:
    """Every record of a ledger file; a torn last line (a killed writer) is skipped."""
    decoder = msgspec.json.Decoder(AckRecord)
    records = []
    with Path(path).open("rb") as file:
        for line in file:
            try:
                records.append(decoder.decode(line))
            except msgspec.DecodeError:
                continue
    return records
