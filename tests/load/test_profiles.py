"""Step, ramp and spike profiles: users over time, and an end of their own."""

from __future__ import annotations

import pytest

from load.profiles import (
    ProfileError,
    RampProfile,
    SpikeProfile,
    StepProfile,
    profile_from_env,
)


def test_step_adds_users_every_step_and_ends() -> None:
    step = StepProfile(users_per_step=5, step_s=10, steps=3)
    assert [step.at(t) for t in (0, 9.9, 10, 25)] == [(5, 5.0), (5, 5.0), (10, 5.0), (15, 5.0)]
    assert step.at(30) is None


def test_ramp_climbs_linearly_then_holds_then_ends() -> None:
    ramp = RampProfile(start_users=0, end_users=100, ramp_s=50, hold_s=10)
    assert [ramp.at(t)[0] for t in (0, 25, 50, 59)] == [0, 50, 100, 100]  # type: ignore[index]
    assert ramp.at(0) == (0, 4.0)  # twice the slope of 2 users/s
    assert ramp.at(60) is None


def test_ramp_down_works_too() -> None:
    ramp = RampProfile(start_users=40, end_users=10, ramp_s=30, hold_s=0)
    assert ramp.at(15) == (25, 2.0)


def test_spike_jumps_to_the_peak_and_back_for_the_recovery() -> None:
    spike = SpikeProfile(base_users=10, peak_users=100, before_s=5, spike_s=5, after_s=10)
    users = [spike.at(t)[0] for t in (0, 4.9, 5, 9.9, 10, 19.9)]  # type: ignore[index]
    assert users == [10, 10, 100, 100, 10, 10]
    assert spike.at(0) == (10, 90.0)  # the whole spike within a second
    assert spike.at(20) is None


def test_profiles_read_their_parameters_from_the_environment() -> None:
    env = {"NEXUS_LOAD_STEP_USERS": "3", "NEXUS_LOAD_STEP_SECONDS": "2", "NEXUS_LOAD_STEPS": "4"}
    profile = profile_from_env("step", env)
    assert profile == StepProfile(users_per_step=3, step_s=2, steps=4)
    assert profile.duration_s == 8
    assert profile_from_env("spike", {"NEXUS_LOAD_SPAWN_RATE": "7"}).at(0) == (10, 7.0)


@pytest.mark.parametrize(
    ("name", "env", "message"),
    [
        ("step", {"NEXUS_LOAD_STEP_USERS": "many"}, "NEXUS_LOAD_STEP_USERS: not an integer"),
        ("ramp", {"NEXUS_LOAD_RAMP_SECONDS": "0"}, "NEXUS_LOAD_RAMP_SECONDS: must be > 0"),
        ("spike", {"NEXUS_LOAD_SPIKE_PEAK": "-1"}, "NEXUS_LOAD_SPIKE_PEAK: must be 0"),
        ("step", {"NEXUS_LOAD_STEPS": "0"}, "NEXUS_LOAD_STEPS: at least 1"),
        ("wave", {}, "unknown shape 'wave'"),
    ],
)
def test_invalid_parameters_name_the_variable(name: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile_from_env(name, env)
