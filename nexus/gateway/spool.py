"""Store-and-forward: messages acquired while the broker is unreachable wait on disk, in order.

Layout of the spool directory:

- ``0000000001.seg``, ``0000000002.seg`` …: append-only segments of records
  ``[u32 topic length][u32 body length][topic][body]``, rotated at ``segment_bytes``;
- ``cursor``: ``segment offset`` of the first record not yet acknowledged by the broker.

The spool survives a gateway restart when its directory is on a persistent volume; records
between the cursor and a crash may be sent twice, which the historian's unique key absorbs.
It is bounded by ``max_bytes``: when full, the oldest segment is dropped and its points are
counted as lost (``on_evict``), the only place the gateway ever gives data up.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">II")
Record = tuple[str, bytes]
Position = tuple[int, int]


class DiskSpool:
    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        segment_bytes: int = 4 * 1024 * 1024,
        on_evict: Callable[[list[Record]], None] | None = None,
    ) -> None:
        if segment_bytes < 1024 or max_bytes < 2 * segment_bytes:
            raise ValueError("need segment_bytes >= 1 KiB and max_bytes >= 2 segments")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._on_evict = on_evict
        self._segments = sorted(int(p.stem) for p in self.directory.glob("*.seg"))
        self._cursor = self._load_cursor()
        self._tail: IO[bytes] | None = None
        self._size = sum(self._path(seg).stat().st_size for seg in self._segments)
        self.evicted_records = 0
        if self._segments:
            log.info(
                "spool %s holds %d bytes from before a restart", self.directory, self.size_bytes
            )

    # -- state ---------------------------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:010d}.seg"

    def _load_cursor(self) -> Position:
        try:
            segment, offset = (self.directory / "cursor").read_text().split()
            position = (int(segment), int(offset))
        except (OSError, ValueError):
            position = (self._segments[0], 0) if self._segments else (1, 0)
        if self._segments and position[0] < self._segments[0]:
            position = (self._segments[0], 0)
        return position

    def _save_cursor(self) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(f"{self._cursor[0]} {self._cursor[1]}")
        os.replace(tmp, self.directory / "cursor")

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def pending(self) -> bool:
        """Are there records not yet acknowledged?"""
        if not self._segments:
            return False
        segment, offset = self._cursor
        if segment < self._segments[-1]:
            return True
        return offset < self._path(segment).stat().st_size

    # -- writing -------------------------------------------------------------------------------

    def append(self, topic: str, body: bytes) -> None:
        if self._tail is None or self._tail.tell() >= self.segment_bytes:
            self._rotate()
        assert self._tail is not None
        raw_topic = topic.encode()
        record = _HEADER.pack(len(raw_topic), len(body)) + raw_topic + body
        self._tail.write(record)
        self._tail.flush()  # in the OS page cache: survives a process crash
        self._size += len(record)
        while self._size > self.max_bytes and len(self._segments) > 1:
            self._evict_oldest()

    def _rotate(self) -> None:
        if self._tail is not None:
            self._tail.close()
        segment = (self._segments[-1] + 1) if self._segments else max(1, self._cursor[0])
        self._segments.append(segment)
        self._tail = self._path(segment).open("ab")

    def _evict_oldest(self) -> None:
        oldest = self._segments.pop(0)
        records = list(self._records(oldest, self._cursor[1] if self._cursor[0] == oldest else 0))
        self._unlink(oldest)
        if self._cursor[0] <= oldest:
            self._cursor = (self._segments[0], 0)
            self._save_cursor()
        self.evicted_records += len(records)
        log.error("spool full (%d bytes): dropped %d oldest messages", self.max_bytes, len(records))
        if self._on_evict is not None and records:
            self._on_evict(records)

    # -- reading -------------------------------------------------------------------------------

    def _records(self, segment: int, offset: int) -> list[Record]:
        out: list[Record] = []
        try:
            data = self._path(segment).read_bytes()
        except FileNotFoundError:
            return out
        while offset + _HEADER.size <= len(data):
            topic_len, body_len = _HEADER.unpack_from(data, offset)
            end = offset + _HEADER.size + topic_len + body_len
            if end > len(data):
                break  # a torn record at the tail of a crashed write: not complete yet
            start = offset + _HEADER.size
            out.append((data[start : start + topic_len].decode(), data[start + topic_len : end]))
            offset = end
        return out

    def read(self, max_records: int) -> tuple[list[Record], Position]:
        """Up to `max_records` from the cursor on, and the position after them."""
        records: list[Record] = []
        segment, offset = self._cursor
        for current in [s for s in self._segments if s >= segment]:
            start = offset if current == segment else 0
            data = self._path(current).read_bytes() if self._path(current).exists() else b""
            position = start
            while position + _HEADER.size <= len(data) and len(records) < max_records:
                topic_len, body_len = _HEADER.unpack_from(data, position)
                end = position + _HEADER.size + topic_len + body_len
                if end > len(data):
                    break
                head = position + _HEADER.size
                records.append(
                    (data[head : head + topic_len].decode(), data[head + topic_len : end])
                )
                position = end
            segment, offset = current, position
            if len(records) >= max_records:
                break
        return records, (segment, offset)

    def commit(self, position: Position) -> None:
        """Everything before `position` is acknowledged: move the cursor, delete old segments."""
        self._cursor = position
        self._save_cursor()
        tail = self._segments[-1] if self._segments else None
        for segment in [s for s in self._segments if s < position[0]]:
            self._unlink(segment)
            self._segments.remove(segment)
        if (
            tail is not None
            and position[0] == tail
            and position[1] >= self.segment_bytes
            and self._tail is not None
        ):
            self._rotate()

    def _unlink(self, segment: int) -> None:
        path = self._path(segment)
        try:
            self._size -= path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            pass

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()
            self._tail = None
