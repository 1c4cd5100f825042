"""The headless smoke run: a device swarm through the real pipeline, checked by the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.stack.local import StackInfo
from tests.load.helpers import child_env, run

pytestmark = pytest.mark.integration


async def test_a_short_swarm_through_broker_and_ingest_loses_nothing(
    stack: StackInfo, tmp_path: Path
) -> None:
    argv = ["-m", "load.smoke", "--stack", "env", "--users", "10", "--spawn-rate", "10"]
    argv += ["--run-time", "10", "--tags", "10", "--reports-dir", str(tmp_path)]
    done = await run(argv, child_env(stack))
    result = done.result
    assert done.returncode == 0, done.stderr[-3000:]
    assert result["failures"] == 0
    assert result["lost"] == 0
    assert result["points_per_s"] > 0
    assert result["users"] == 10
    assert result["points_acked"] == result["points_published"] > 0
    assert result["publish_p95_ms"] is not None
    assert result["e2e_p95_ms"] is not None
    reports = Path(result["reports"])
    for name in ("locust_stats.csv", "locust_failures.csv", "report.html", "summary.json"):
        assert (reports / name).is_file(), name


async def test_without_an_ingest_the_ledger_counts_every_acknowledged_point_lost(
    stack: StackInfo, tmp_path: Path
) -> None:
    argv = ["-m", "load.smoke", "--stack", "env", "--no-ingest", "--users", "3"]
    argv += ["--run-time", "3", "--tags", "5", "--drain", "1", "--reports-dir", str(tmp_path)]
    done = await run(argv, child_env(stack))
    result = done.result
    assert done.returncode == 1
    assert result["points_acked"] > 0
    assert result["lost"] == result["points_acked"]
    assert result["failures"] > 0  # the ledger's verdict, and sampled points never stored
    assert "FAILED" in done.stderr
