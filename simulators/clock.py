"""The twin's simulated clock: wall time mapped to simulated seconds since start."""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """t = t0 + (wall() - start_wall) · speed.

    `wall` defaults to `time.time` (Unix seconds), so a sample timestamped by the gateway can be
    mapped back to the simulated time at which it was read (`t_at`). Speed 0 freezes the clock at
    `t0`, which makes what the twin serves exactly predictable in tests (`SimClock.frozen`).
    """

    __slots__ = ("speed", "start_wall", "t0", "wall")

    def __init__(
        self,
        start_wall: float | None = None,
        speed: float = 1.0,
        *,
        t0: float = 0.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must not be negative")
        self.wall = wall
        self.start_wall = wall() if start_wall is None else start_wall
        self.speed = speed
        self.t0 = t0

    @classmethod
    def frozen(cls, t: float = 0.0) -> SimClock:
        """A clock that always reads `t`."""
        return cls(0.0, 0.0, t0=t)

    def now(self) -> float:
        """The simulated time now, in seconds since start."""
        return self.t_at(self.wall())

    def t_at(self, wall_time: float) -> float:
        """The simulated time at wall-clock time `wall_time`."""
        return self.t0 + (wall_time - self.start_wall) * self.speed

    def __repr__(self) -> str:
        return f"SimClock(start_wall={self.start_wall!r}, speed={self.speed!r}, t0={self.t0!r})"
