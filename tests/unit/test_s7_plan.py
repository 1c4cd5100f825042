"""S7 read planning: byte ranges per area, packed into requests that fit the PDU both ways."""

from __future__ import annotations

import itertools

import pytest

from nexus.gateway.s7.plan import (
    MAX_ITEMS,
    REQUEST_HEADER,
    REQUEST_ITEM,
    RESPONSE_HEADER,
    RESPONSE_ITEM,
    plan_items,
    plan_requests,
)
from nexus.model.s7address import S7Area
from nexus.model.tags import S7Tag


def tags(*addresses: str) -> list[S7Tag]:
    return [S7Tag(name=f"t{i}", address=a) for i, a in enumerate(addresses)]


def test_adjacent_tags_of_one_area_make_one_item() -> None:
    items = plan_items(
        tags("DB1.DBD0:REAL", "DB1.DBW4:INT", "DB1.DBX6.0:BOOL", "DB1.DBX6.1:BOOL"), 480
    )
    assert [(i.area, i.db, i.start, i.size, len(i.tags)) for i in items] == [
        (S7Area.DB, 1, 0, 7, 4)
    ]


def test_areas_and_blocks_are_separate_items_and_gaps_split() -> None:
    items = plan_items(
        tags("DB1.DBD0:REAL", "DB2.DBD0:REAL", "MW0:INT", "DB1.DBD100:REAL", "I0.0:BOOL"),
        480,
        max_gap=8,
    )
    assert sorted((i.area.value, i.db, i.start, i.size) for i in items) == [
        ("DB", 1, 0, 4),
        ("DB", 1, 100, 4),
        ("DB", 2, 0, 4),
        ("I", 0, 0, 1),
        ("M", 0, 0, 2),
    ]


def test_a_small_gap_is_read_through() -> None:
    items = plan_items(tags("DB1.DBD0:REAL", "DB1.DBD10:REAL"), 480, max_gap=8)
    assert [(i.start, i.size) for i in items] == [(0, 14)]
    item = items[0]
    assert item.slice_for(item.tags[1]) == slice(10, 14)


def test_long_ranges_are_split_between_tags_to_fit_one_pdu() -> None:
    many = tags(*(f"DB1.DBD{4 * i}:DINT" for i in range(200)))  # 800 contiguous bytes
    items = plan_items(many, 240)
    assert all(i.size <= 240 - RESPONSE_HEADER - RESPONSE_ITEM for i in items)
    assert sum(len(i.tags) for i in items) == 200
    assert [i.start for i in items] == sorted(i.start for i in items)
    for a, b in itertools.pairwise(items):
        assert a.start + a.size == b.start  # nothing lost between the pieces


@pytest.mark.parametrize("pdu", [240, 480, 960])
def test_requests_fit_the_pdu_and_the_item_limit(pdu: int) -> None:
    scattered = tags(*(f"DB{n}.DBD0:REAL" for n in range(1, 61)), "DB99.DBB0:STRING[200]")
    requests = plan_requests(plan_items(scattered, pdu), pdu)
    assert sum(len(r) for r in requests) == 61
    for request in requests:
        assert len(request) <= MAX_ITEMS
        assert REQUEST_HEADER + REQUEST_ITEM * len(request) <= pdu
        response = RESPONSE_HEADER + sum(RESPONSE_ITEM + i.size + i.size % 2 for i in request)
        assert response <= pdu
    assert len(requests) >= -(-61 // MAX_ITEMS)  # never more than 20 items in one


def test_a_tag_larger_than_the_pdu_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit a PDU of 240"):
        plan_items(tags("DB1.DBB0:STRING[254]"), 240)
