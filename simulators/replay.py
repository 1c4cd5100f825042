"""Replay a recording: tags of the twin serve recorded values instead of their signal or model.

The recording is a CSV as `nexus sim record` writes it (simulators/record.py): the header
`timestamp,device,tag,value`, then one row per value, in time order. A replayed tag serves the
last value recorded at or before the simulated time (a step hold; before its first row, its
first value), with the file's timestamps taken relative to its first row, so a recording of a
real plant day (timestamps in Unix seconds, say) replays from t = 0. With `loop` the replay
starts again after the last timestamp plus one sample interval (the gap between the last two
distinct timestamps). How fast it plays is the fleet's clock (`nexus sim fleet --speed`).

The file is read once; each tag keeps its times in a sorted array and is looked up by bisection,
so a large recording costs O(log n) per request and no re-reading. A malformed row, or a device
or tag the plant does not have, is a `ConfigError` naming the CSV file and line.
"""

from __future__ import annotations

import bisect
import csv
import math
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from nexus.errors import ConfigError

COLUMNS = ("timestamp", "device", "tag", "value")
"""The recording's header (simulators.record writes it)."""

_SHOWN = 8
"""How many known names an unknown-name error lists."""


@dataclass(slots=True)
class _Series:
    """One tag's rows: times relative to the file's first row, raw values and line numbers."""

    times: array[float]
    values: list[str]
    lines: array[int]


@dataclass(frozen=True, slots=True, eq=False)
class ReplaySource:
    """One replayed tag: the value at t is the last recorded at or before t (step hold)."""

    times: array[float]
    values: list[float] | list[str]
    period: float | None
    limits: tuple[float, float] | None
    kind: str = "replay"

    def _index(self, t: float) -> int:
        if self.period is not None:
            t %= self.period
        return max(0, bisect.bisect_right(self.times, t) - 1)

    def sample(self, t: float, seed: int) -> float | str:
        return self.values[self._index(t)]

    def at(self, t: float, seed: int) -> float:
        value = self.values[self._index(t)]
        if isinstance(value, str):
            raise TypeError("a replayed text tag has no numeric value")
        return value

    def bounds(self) -> tuple[float, float] | None:
        return self.limits


class Replay:
    """A loaded recording: every (device, tag) series, ready to be bound to a plant's tags."""

    def __init__(
        self, path: str, series: dict[str, dict[str, _Series]], period: float | None, loop: bool
    ) -> None:
        self.path = path
        self.loop = loop
        self._series = series
        self._period = period
        self._sources: dict[tuple[str, str], ReplaySource] = {}

    @classmethod
    def load(cls, path: str | Path, *, loop: bool = False) -> Replay:
        """Read the CSV at `path`; ConfigError naming file:line for any malformed row."""
        name = str(path)
        try:
            with open(path, encoding="utf-8", newline="") as file:
                series, period = _read(name, file)
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=name) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text: {exc.reason}", file=name) from exc
        return cls(name, series, period, loop)

    def looping(self, loop: bool) -> Replay:
        """The same recording, looping or not."""
        return Replay(self.path, self._series, self._period, loop)

    @property
    def period_s(self) -> float | None:
        """How long one pass lasts (last timestamp + one interval), None for a single sample."""
        return self._period

    def tags(self) -> Iterator[tuple[str, str]]:
        """(device, tag) of every replayed tag, in the order of their first row."""
        for device, tags in self._series.items():
            for tag in tags:
                yield device, tag

    def check(self, plant: Mapping[str, Mapping[str, bool]]) -> None:
        """Check the recording against the plant's devices (name → tag name → is text) and
        prepare each tag's values; ConfigError naming the CSV line of the first problem."""
        problems: list[tuple[int, str]] = []
        for device, tags in self._series.items():
            known = plant.get(device)
            if known is None:
                first = min(s.lines[0] for s in tags.values())
                problems.append((first, f"device {device!r} is not in the plant{_some(plant)}"))
                continue
            for tag, series in tags.items():
                if tag not in known:
                    problems.append(
                        (
                            series.lines[0],
                            f"device {device} has no tag {tag!r}{_some(known)}",
                        )
                    )
                    continue
                try:
                    self._sources[(device, tag)] = self._source(series, text=known[tag])
                except _BadValue as exc:
                    problems.append(
                        (exc.line, f"value {exc.value!r} of {device}.{tag} is not a number")
                    )
        if problems:
            line, message = min(problems)
            raise ConfigError(message, file=f"{self.path}:{line}")

    def sources(self, device: str) -> dict[str, ReplaySource]:
        """Tag name → its replay, for the tags of `device` in the recording (after `check`)."""
        return {
            tag: self._sources[(device, tag)]
            for tag in self._series.get(device, {})
            if (device, tag) in self._sources
        }

    def _source(self, series: _Series, *, text: bool) -> ReplaySource:
        period = self._period if self.loop else None
        if text:
            return ReplaySource(series.times, series.values, period, None)
        numbers: list[float] = []
        for raw, line in zip(series.values, series.lines, strict=True):
            number = _number(raw)
            if number is None:
                raise _BadValue(line, raw)
            numbers.append(number)
        finite = [n for n in numbers if math.isfinite(n)]
        limits = (min(finite), max(finite)) if finite else None
        return ReplaySource(series.times, numbers, period, limits)


class _BadValue(Exception):
    def __init__(self, line: int, value: str) -> None:
        super().__init__(value)
        self.line = line
        self.value = value


def _some(names: Mapping[str, object]) -> str:
    shown = list(names)[:_SHOWN]
    more = ", …" if len(names) > _SHOWN else ""
    return f" (it has {', '.join(shown)}{more})" if shown else ""


def _number(raw: str) -> float | None:
    """A recorded value as a number: true/false → 1/0, an integer exactly, else a float."""
    if raw == "true":
        return 1
    if raw == "false":
        return 0
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return None


def _read(path: str, file: TextIO) -> tuple[dict[str, dict[str, _Series]], float | None]:
    """Every series of the CSV and the loop period; ConfigError naming file:line otherwise."""
    reader = csv.reader(file)
    header = next(reader, None)
    if header is None:
        raise ConfigError("the file is empty: expected the header " + ",".join(COLUMNS), file=path)
    if tuple(header) != COLUMNS:
        raise ConfigError(
            f"expected the header {','.join(COLUMNS)}, got {','.join(header)}", file=f"{path}:1"
        )
    series: dict[str, dict[str, _Series]] = {}
    first: float | None = None
    last = previous = -math.inf
    end = reader.line_num
    for row in reader:
        # the row's first line: a quoted field may span lines, so line_num is the row's last
        line, end = end + 1, reader.line_num
        if not row:
            continue  # a blank line
        where = f"{path}:{line}"
        if len(row) != len(COLUMNS):
            raise ConfigError(
                f"expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), got {len(row)}", file=where
            )
        stamp, device, tag, value = row
        try:
            t = float(stamp)
        except ValueError:
            raise ConfigError(f"timestamp {stamp!r} is not a number", file=where) from None
        if not math.isfinite(t):
            raise ConfigError(f"timestamp {stamp!r} is not finite", file=where)
        if t < last:
            raise ConfigError(
                f"timestamp {stamp} is before the row above ({last:g}): rows must be in time order",
                file=where,
            )
        if not device or not tag:
            raise ConfigError("the device and the tag must not be empty", file=where)
        if first is None:
            first = t
        if t > last:
            previous, last = last, t
        s = series.setdefault(device, {}).get(tag)
        if s is None:
            s = series[device][tag] = _Series(array("d"), [], array("L"))
        s.times.append(t - first)
        s.values.append(value)
        s.lines.append(line)
    if first is None:
        raise ConfigError("the recording has no rows", file=f"{path}:1")
    period = None if previous == -math.inf else (last - first) + (last - previous)
    return series, period
