"""A recording of what the twin serves: every tag of every device, sampled in simulated time.

Nothing is served and nothing waits: each value is computed from the plant's signals and
process models (and a replayed recording, if any) at the sample's simulated time, exactly as a
running fleet would serve it at that time. So the same plant, seed, duration and interval always
give the same rows, byte for byte.

The CSV has the columns `timestamp,device,tag,value`: `timestamp` is the simulated time in
seconds since the fleet started, with millisecond decimals; rows are ordered by time, then by
device and tag in file order. A bool is `true`/`false`, a float its shortest exact repr.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from simulators.plant import Plant
from simulators.replay import COLUMNS as REPLAY_COLUMNS
from simulators.twin import TagValue

COLUMNS = REPLAY_COLUMNS


@dataclass(frozen=True, slots=True)
class Recording:
    """What to record: `duration_s` simulated seconds, a sample every `interval_ms`.

    `speed` (simulated seconds per wall second) is metadata only: it tells how long a fleet
    running at that speed would take to serve the same values (`wall_duration_s`).
    """

    duration_s: float
    interval_ms: int = 1000
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError("the duration must be positive")
        if self.interval_ms < 1:
            raise ValueError("the interval must be at least 1 ms")
        if not self.speed > 0:
            raise ValueError("the speed must be positive")

    @property
    def sample_count(self) -> int:
        """Samples at 0, interval, 2·interval, … up to and including the duration."""
        return round(self.duration_s * 1000) // self.interval_ms + 1

    @property
    def wall_duration_s(self) -> float:
        return self.duration_s / self.speed

    def sample_times(self) -> Iterator[float]:
        # integer milliseconds, so the times do not drift by accumulated rounding
        for i in range(self.sample_count):
            yield i * self.interval_ms / 1000


def with_seed(plant: Plant, seed: int) -> Plant:
    """A copy of `plant` whose random signals and models are seeded with `seed` (a replay
    stays)."""
    seeded = Plant.model_validate({**plant.model_dump(), "seed": seed})
    return seeded if plant.replay is None else seeded.with_replay(plant.replay)


def format_value(value: TagValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def rows(plant: Plant, recording: Recording) -> Iterator[tuple[str, str, str, str]]:
    """(timestamp, device, tag, value) of every tag of every device at every sample time."""
    tags = [(device.name, tag) for device in plant.devices() for tag in device.tags]
    # time is the outer loop: random walks and process models then move forward one step at a
    # time instead of being recomputed from t = 0 for every tag
    for t in recording.sample_times():
        stamp = f"{t:.3f}"
        for device, tag in tags:
            yield stamp, device, tag.name, format_value(tag.value_at(t))


def write_csv(
    plant: Plant,
    recording: Recording,
    out: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the recording to `out` (opened with newline=""); return the number of rows.

    `progress` is called with 10, 20, … 100 as that percentage of the samples is written.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    per_sample = sum(len(device.tags) for device in plant.devices())
    samples = recording.sample_count
    count = 0
    reported = 0
    for row in rows(plant, recording):
        writer.writerow(row)
        count += 1
        if progress is not None and count % per_sample == 0:
            percent = (count // per_sample) * 100 // samples
            if percent // 10 > reported // 10:
                reported = percent - percent % 10
                progress(reported)
    return count


def metadata(plant: Plant, recording: Recording, row_count: int) -> dict[str, object]:
    """What the recording is of (written next to the CSV; no wall-clock time, so runs match)."""
    replay: dict[str, object] = (
        {}
        if plant.replay is None
        else {"replay": plant.replay.path, "replay_loop": plant.replay.loop}
    )
    return {
        "plant": plant.plant,
        "seed": plant.seed,
        "duration_s": recording.duration_s,
        "interval_ms": recording.interval_ms,
        "speed": recording.speed,
        "wall_duration_s": recording.wall_duration_s,
        "samples": recording.sample_count,
        "devices": plant.device_count,
        "tags": plant.tag_count,
        "rows": row_count,
        "columns": list(COLUMNS),
        **replay,
    }
