"""The replica expectations: `replicas_reached` (scaled out) and `replicas_at_end` (back in)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chaos.ledger import LedgerReport
from chaos.scenario import Expectations
from chaos.verdict import unmet

EMPTY = LedgerReport(devices=[], latency_p99_ms=None, latency_p50_ms=None)


def expect(**fields: object) -> Expectations:
    return Expectations.model_validate({"min_delivered": 0, **fields})


def test_scaled_out_and_back_in_passes() -> None:
    e = expect(replicas_reached={"ingest": 4}, replicas_at_end={"ingest": 2})
    assert unmet(EMPTY, e, {"ingest": 4, "gateway": 2}, {"ingest": 2, "gateway": 2}) == []


def test_not_scaled_back_in_fails_naming_the_counts() -> None:
    e = expect(replicas_at_end={"ingest": 2})
    assert unmet(EMPTY, e, {"ingest": 4}, {"ingest": 3}) == [
        "ingest ran 3 replicas at the end of the timeline, expected at most 2 (not scaled back in)"
    ]


def test_an_end_count_that_was_not_recorded_fails() -> None:
    e = expect(replicas_at_end={"ingest": 2})
    assert unmet(EMPTY, e, {"ingest": 4}) == [
        "ingest: the replicas at the end of the timeline were not recorded"
    ]


@pytest.mark.parametrize("value", [-1, 17])
def test_replicas_at_end_is_validated(value: int) -> None:
    with pytest.raises(ValidationError):
        expect(replicas_at_end={"ingest": value})
    with pytest.raises(ValidationError):
        expect(replicas_at_end={"database": 1})
