"""Locust load shapes over ``load.profiles``: step, ramp and spike.

Locust runs the first ``LoadTestShape`` class it finds in the locustfile, so the locustfile
binds only the one NEXUS_LOAD_SHAPE names (``selected_shape``); without it, ``-u``/``-r``/``-t``
(or the web UI) set the load. A shape ends the test by itself when its profile is over.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import ClassVar

from locust import LoadTestShape

from load.profiles import PREFIX, Profile, ProfileError, Tick, profile_from_env

SHAPE_ENV = PREFIX + "SHAPE"


class ProfileShape(LoadTestShape):
    abstract = True
    profile_name: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # sets start_time
        self.profile: Profile = profile_from_env(self.profile_name)

    def tick(self) -> Tick | None:
        # get_run_time(), which is not annotated; the runner resets start_time at the start
        return self.profile.at(time.perf_counter() - self.start_time)


class StepShape(ProfileShape):
    """NEXUS_LOAD_STEP_USERS more devices every NEXUS_LOAD_STEP_SECONDS, NEXUS_LOAD_STEPS times."""

    profile_name = "step"


class RampShape(ProfileShape):
    """NEXUS_LOAD_RAMP_FROM → NEXUS_LOAD_RAMP_TO devices over NEXUS_LOAD_RAMP_SECONDS, then hold."""

    profile_name = "ramp"


class SpikeShape(ProfileShape):
    """NEXUS_LOAD_SPIKE_BASE devices, NEXUS_LOAD_SPIKE_PEAK for NEXUS_LOAD_SPIKE_SECONDS, back."""

    profile_name = "spike"


SHAPES: dict[str, type[ProfileShape]] = {"step": StepShape, "ramp": RampShape, "spike": SpikeShape}


def selected_shape(env: Mapping[str, str] | None = None) -> type[ProfileShape] | None:
    """The shape class NEXUS_LOAD_SHAPE names, or None when it is unset or empty."""
    name = (os.environ if env is None else env).get(SHAPE_ENV, "").strip().lower()
    if not name:
        return None
    if name not in SHAPES:
        raise ProfileError(f"{SHAPE_ENV}: unknown shape {name!r} ({', '.join(SHAPES)})")
    return SHAPES[name]
