"""The checker can fail: rows deleted from the historian after a run are reported as lost,
named exactly by device, gateway run and sequence numbers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from chaos.local import LocalTarget
from chaos.runner import run_local
from chaos.scenario import load_scenario
from chaos.target import Target

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DEVICE = "dev/works/mixing/mixer-02"  # the second device: polled by gateway-1 (round robin)


async def test_deleted_rows_are_named_as_lost(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "steady-state.yaml", scale=0.15)
    deleted: list[tuple[str, int]] = []

    async def lose_rows(target: Target) -> None:
        assert isinstance(target, LocalTarget)
        conn = await asyncpg.connect(target.stack.postgres.dsn)
        try:
            rows = await conn.fetch(
                "DELETE FROM metrics WHERE topic LIKE $1 AND seq BETWEEN 3 AND 7 "
                "RETURNING topic, seq",
                DEVICE + "/%",
            )
        finally:
            await conn.close()
        deleted.extend((r["topic"], r["seq"]) for r in rows)

    outcome = await run_local(scenario, report_dir=tmp_path, before_check=lose_rows)
    result = outcome.result
    assert len(deleted) == 5
    assert not result.passed
    assert result.ledger.lost == 5
    assert [d.device for d in result.ledger.devices if d.lost] == [DEVICE]
    assert result.failures == [
        "lost 5 acknowledged points (allowed 0)",
        f"  {DEVICE}: 5 lost: gateway-1.run1 seq 3-7",
    ]
    html = await asyncio.to_thread(outcome.html_path.read_text)
    assert "gateway-1.run1 seq 3-7" in html
    assert outcome.json_path.exists()
