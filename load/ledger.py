"""The ledger: every point the broker acknowledged must end in the historian.

Devices record each acknowledged message (its tag topics and timestamp); at the end of a run
``reconcile`` asks the historian which of those keys are missing, and asks again, for the
missing ones only, until none is missing or the drain time is over. What is still missing then
is **lost**: acknowledged by the broker (PUBACK), not stored.

Memory: one entry per message (about 100 bytes), the tag topics shared per device.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from load.telemetry import Key, Message

log = logging.getLogger(__name__)

MissingLookup = Callable[[Sequence[Key]], Sequence[Key]]
"""Which of these keys the historian does not hold (e.g. ``Historian.missing``)."""

LOST_SAMPLE = 10


class Ledger:
    """The points the broker acknowledged, in the order their PUBACKs arrived."""

    def __init__(self) -> None:
        self._messages: list[tuple[tuple[str, ...], int]] = []
        self.points = 0

    def record(self, message: Message) -> None:
        self._messages.append((message.topics, message.ts))
        self.points += message.points

    @property
    def messages(self) -> int:
        return len(self._messages)

    def keys(self) -> Iterator[Key]:
        for topics, ts in self._messages:
            for topic in topics:
                yield topic, ts


@dataclass(frozen=True)
class LedgerResult:
    """The verdict of a reconciliation: ``lost`` of ``acked`` points are not stored."""

    acked: int
    lost: int
    drain_s: float
    """Seconds from the first check until nothing was missing (or the drain time was over)."""
    lost_sample: tuple[Key, ...] = field(default=())


def _chunks(keys: Iterable[Key], size: int) -> Iterator[list[Key]]:
    chunk: list[Key] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def find_missing(keys: Iterable[Key], lookup: MissingLookup, *, chunk: int = 20_000) -> list[Key]:
    """The keys the historian does not hold, asked ``chunk`` keys at a time."""
    missing: list[Key] = []
    for part in _chunks(keys, chunk):
        missing.extend(lookup(part))
    return missing


def reconcile(
    ledger: Ledger,
    lookup: MissingLookup,
    *,
    drain_s: float,
    interval_s: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LedgerResult:
    """Wait up to ``drain_s`` for every acknowledged point to be stored; count the rest."""
    started = clock()
    missing = find_missing(ledger.keys(), lookup)
    while missing and clock() - started < drain_s:
        log.info("ledger: %d of %d points not stored yet", len(missing), ledger.points)
        sleep(interval_s)
        missing = find_missing(missing, lookup)
    result = LedgerResult(
        acked=ledger.points,
        lost=len(missing),
        drain_s=clock() - started,
        lost_sample=tuple(sorted(missing)[:LOST_SAMPLE]),
    )
    if result.lost:
        log.error(
            "ledger: %d of %d acknowledged points not stored after %.1f s, e.g. %s",
            result.lost,
            result.acked,
            result.drain_s,
            ", ".join(f"{topic}@{ts}" for topic, ts in result.lost_sample),
        )
    else:
        log.info("ledger: all %d acknowledged points stored", result.acked)
    return result
