"""The locustfile under Locust itself: user class, load shapes, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus.stack.local import StackInfo
from tests.load.helpers import child_env, run

LOCUST = ["-m", "locust", "-f", "load/locustfile.py"]


@pytest.mark.integration
async def test_a_step_shape_grows_the_swarm_and_ends_the_test_by_itself(
    stack: StackInfo, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    env = child_env(
        stack,
        NEXUS_LOAD_SHAPE="step",
        NEXUS_LOAD_STEP_USERS="2",
        NEXUS_LOAD_STEP_SECONDS="2",
        NEXUS_LOAD_STEPS="2",
        NEXUS_LOAD_TAGS="3",
        NEXUS_LOAD_LEDGER="off",
        NEXUS_LOAD_E2E_SAMPLES="0",
        NEXUS_LOAD_SUMMARY=str(summary),
    )
    done = await run([*LOCUST, "--headless", "--only-summary"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Shape test completed" in done.stderr
    result = json.loads(summary.read_text())
    assert result["users"] == 4
    assert result["failures"] == 0
    assert result["lost"] is None  # ledger off
    assert result["points_acked"] == result["points_published"] > 0


async def test_an_unknown_shape_is_refused_by_name() -> None:
    done = await run([*LOCUST, "--headless", "-t", "1s"], child_env(None, NEXUS_LOAD_SHAPE="wave"))
    assert done.returncode != 0
    assert "NEXUS_LOAD_SHAPE: unknown shape 'wave'" in done.stderr


async def test_a_broker_off_this_machine_is_refused_before_any_traffic() -> None:
    env = child_env(None, NEXUS_MQTT_HOST="192.0.2.10")  # TEST-NET-1: never contacted
    done = await run([*LOCUST, "--headless", "-u", "1", "-t", "1s"], env)
    assert done.returncode != 0
    assert "not on this machine" in done.stderr


async def test_the_device_user_is_listed() -> None:
    done = await run([*LOCUST, "--list"], child_env(None))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DeviceUser" in done.stdout
