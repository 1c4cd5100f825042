"""The ledger counts every acknowledged point the historian does not hold, after a drain."""

from __future__ import annotations

from collections.abc import Sequence

from load.ledger import Ledger, find_missing, reconcile
from load.telemetry import DeviceTelemetry, Key, PayloadForm


class FakeHistorian:
    """Holds the keys it was given; ``arrive`` more on each sleep (a slow ingest)."""

    def __init__(self, stored: set[Key], arriving: list[set[Key]] | None = None) -> None:
        self.stored = set(stored)
        self.arriving = list(arriving or [])
        self.now = 0.0
        self.asked: list[int] = []

    def missing(self, keys: Sequence[Key]) -> list[Key]:
        self.asked.append(len(keys))
        return [k for k in keys if k not in self.stored]

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.arriving:
            self.stored |= self.arriving.pop(0)

    def clock(self) -> float:
        return self.now


def acked_ledger(polls: int = 3, tags: int = 4) -> tuple[Ledger, list[Key]]:
    telemetry = DeviceTelemetry(site="s", line="l", device="d", tags=tags, form=PayloadForm.BATCH)
    ledger = Ledger()
    keys: list[Key] = []
    for i in range(polls):
        for message in telemetry.poll(1_795_000_000_000 + i * 1000):
            ledger.record(message)
            keys.extend(message.point_keys())
    return ledger, keys


def test_all_stored_means_nothing_lost() -> None:
    ledger, keys = acked_ledger()
    db = FakeHistorian(set(keys))
    result = reconcile(ledger, db.missing, drain_s=5, sleep=db.sleep, clock=db.clock)
    assert (result.acked, result.lost, result.lost_sample) == (12, 0, ())
    assert result.drain_s == 0


def test_one_missing_key_is_one_lost_point() -> None:
    ledger, keys = acked_ledger()
    db = FakeHistorian(set(keys[1:]))
    result = reconcile(
        ledger, db.missing, drain_s=2, interval_s=0.5, sleep=db.sleep, clock=db.clock
    )
    assert result.lost == 1
    assert result.lost_sample == (keys[0],)
    assert result.drain_s >= 2


def test_points_stored_during_the_drain_are_not_lost_and_only_missing_keys_are_asked_again() -> (
    None
):
    ledger, keys = acked_ledger()
    late = set(keys[:5])
    db = FakeHistorian(set(keys[5:]), arriving=[set(), late])
    result = reconcile(
        ledger, db.missing, drain_s=10, interval_s=0.5, sleep=db.sleep, clock=db.clock
    )
    assert result.lost == 0
    assert db.asked == [12, 5, 5]
    assert result.drain_s == 1.0


def test_nothing_stored_counts_every_acknowledged_point() -> None:
    ledger, _ = acked_ledger(polls=2, tags=3)
    db = FakeHistorian(set())
    result = reconcile(ledger, db.missing, drain_s=0, sleep=db.sleep, clock=db.clock)
    assert (result.acked, result.lost) == (6, 6)
    assert ledger.messages == 2


def test_keys_are_asked_in_chunks() -> None:
    _, keys = acked_ledger(polls=5, tags=10)
    db = FakeHistorian(set())
    assert len(find_missing(keys, db.missing, chunk=20)) == 50
    assert db.asked == [20, 20, 10]
