"""Pack the tags of one PLC into multi-variable reads that fit the negotiated PDU.

Tags of one area (one data block, M, I or Q) whose bytes are at most `max_gap` apart become one
item (a byte range); an item longer than a PDU can carry is split between tags. Items are then
packed, in address order, into requests of at most 20 items (the S7 limit) whose request and
response both fit the PDU:

    request  = 12 (header + function + count) + 12 per item
    response = 14 (header + function + count) + per item 4 (return code, transport size,
               length) + data + 1 fill byte after an odd length (except the last)
"""

from __future__ import annotations

from dataclasses import dataclass

from nexus.model.s7address import S7Address, S7Area
from nexus.model.tags import S7Tag

MAX_ITEMS = 20
REQUEST_HEADER = 12
REQUEST_ITEM = 12
RESPONSE_HEADER = 14
RESPONSE_ITEM = 4

AREA_CODE = {S7Area.I: 0x81, S7Area.Q: 0x82, S7Area.M: 0x83, S7Area.DB: 0x84}
"""The S7 protocol's area codes."""


@dataclass(frozen=True, slots=True)
class ItemTag:
    """A tag inside an item: where its bytes are in the item's data (computed once)."""

    name: str
    unit: str
    address: S7Address
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class ReadItem:
    """One item of a read request: a byte range of one area and the tags inside it."""

    area: S7Area
    db: int
    start: int
    size: int
    tags: tuple[S7Tag, ...]

    @property
    def area_code(self) -> int:
        return AREA_CODE[self.area]

    @property
    def members(self) -> tuple[ItemTag, ...]:
        return tuple(
            ItemTag(
                t.name,
                t.unit,
                t.location,
                t.location.start - self.start,
                t.location.end - self.start,
            )
            for t in self.tags
        )

    def slice_for(self, tag: S7Tag) -> slice:
        begin = tag.location.start - self.start
        return slice(begin, begin + tag.location.size)

    def __str__(self) -> str:
        where = f"DB{self.db}" if self.area is S7Area.DB else self.area.value
        return f"{where} bytes {self.start}–{self.start + self.size - 1}"


def max_item_bytes(pdu_size: int) -> int:
    """The largest item one request can read: one item alone in a response."""
    return pdu_size - RESPONSE_HEADER - RESPONSE_ITEM


def plan_items(tags: list[S7Tag], pdu_size: int, max_gap: int = 0) -> list[ReadItem]:
    """Merge tags of each area into byte ranges no longer than one request can carry."""
    limit = max_item_bytes(pdu_size)
    for tag in tags:
        if tag.location.size > limit:
            raise ValueError(
                f"tag {tag.name} ({tag.location.size} bytes) does not fit a PDU of {pdu_size}"
            )
    items: list[ReadItem] = []
    keys = sorted({(t.location.area, t.location.db) for t in tags}, key=lambda k: (k[0], k[1]))
    for area, db in keys:
        members = sorted(
            (t for t in tags if (t.location.area, t.location.db) == (area, db)),
            key=lambda t: (t.location.start, t.location.bit),
        )
        current: list[S7Tag] = []
        start = end = 0
        for tag in members:
            where = tag.location
            if current and where.start <= end + max_gap and max(end, where.end) - start <= limit:
                current.append(tag)
                end = max(end, where.end)
                continue
            if current:
                items.append(ReadItem(area, db, start, end - start, tuple(current)))
            current, start, end = [tag], where.start, where.end
        if current:
            items.append(ReadItem(area, db, start, end - start, tuple(current)))
    return items


def plan_requests(items: list[ReadItem], pdu_size: int) -> list[list[ReadItem]]:
    """Pack items into requests that fit `pdu_size` both ways, at most 20 items each."""
    requests: list[list[ReadItem]] = []
    current: list[ReadItem] = []
    response = RESPONSE_HEADER
    for item in items:
        need = RESPONSE_ITEM + item.size + 1  # a fill byte may follow
        fits = (
            len(current) < MAX_ITEMS
            and REQUEST_HEADER + REQUEST_ITEM * (len(current) + 1) <= pdu_size
            and response + need <= pdu_size
        )
        if current and not fits:
            requests.append(current)
            current, response = [], RESPONSE_HEADER
        current.append(item)
        response += need
    if current:
        requests.append(current)
    return requests
