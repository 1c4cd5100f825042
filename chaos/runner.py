"""Run one scenario file on the local target and write its report: what the CLI and pytest call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos.engine import Hook, RunResult, Sample, run_scenario
from chaos.local import LocalTarget
from chaos.report import write_report
from chaos.scenario import Scenario

DEFAULT_REPORT_DIR = Path("reports")


@dataclass(frozen=True)
class Outcome:
    result: RunResult
    json_path: Path
    html_path: Path


async def run_local(
    scenario: Scenario,
    *,
    report_dir: Path = DEFAULT_REPORT_DIR,
    on_sample: Callable[[Sample], None] | None = None,
    before_check: Hook | None = None,
) -> Outcome:
    """Run `scenario` on this machine; the report goes to REPORT_DIR/<name>-<time>/."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = report_dir / f"{scenario.name}-{stamp}"
    target = LocalTarget(scenario, directory / "run")
    result = await run_scenario(scenario, target, on_sample=on_sample, before_check=before_check)
    json_path, html_path = write_report(result, directory)
    return Outcome(result, json_path, html_path)


def run_local_sync(
    scenario: Scenario,
    *,
    report_dir: Path = DEFAULT_REPORT_DIR,
    on_sample: Callable[[Sample], None] | None = None,
    before_check: Hook | None = None,
) -> Outcome:
    """`run_local` on an event loop of its own (the synchronous edge: CLI, pytest items).

    The loop is not made the thread's current loop, so a test framework's loop is untouched.
    """
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(
            run_local(
                scenario, report_dir=report_dir, on_sample=on_sample, before_check=before_check
            )
        )
