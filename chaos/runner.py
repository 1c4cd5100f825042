"""Run one scenario file on the local (or containers) target and write its report: what the CLI
and pytest call. The target is named by `target` ("local", "containers"), by default from
NEXUS_SCENARIO_TARGET, else "local"."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos.engine import Hook, RunResult, Sample, run_scenario
from chaos.local import LocalTarget
from chaos.report import write_report
from chaos.scenario import Scenario
from chaos.target import Target
from nexus.errors import ConfigError

DEFAULT_REPORT_DIR = Path("reports")
TARGET_ENV = "NEXUS_SCENARIO_TARGET"
TARGETS = ("local", "containers")


def target_name(given: str | None = None) -> str:
    """`given`, else NEXUS_SCENARIO_TARGET, else "local"; ConfigError if it is none of TARGETS."""
    name = given or os.environ.get(TARGET_ENV) or "local"
    if name not in TARGETS:
        where = "--target" if given else TARGET_ENV
        raise ConfigError(f"{name!r} is not one of: {', '.join(TARGETS)}", field=where)
    return name


def unavailable(name: str) -> str | None:
    """Why target `name` cannot run on this machine (None: it can)."""
    if name == "containers":
        from chaos.containers import docker_unavailable

        return docker_unavailable()
    return None


def make_target(name: str, scenario: Scenario, work_dir: Path) -> Target:
    """The target called `name` for `scenario` (TargetUnavailable if it cannot run here)."""
    if target_name(name) == "containers":
        from chaos.containers import ContainersTarget

        return ContainersTarget(scenario, work_dir)
    return LocalTarget(scenario, work_dir)


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
    target: str = "local",
) -> Outcome:
    """Run `scenario` on this machine; the report goes to REPORT_DIR/<name>-<time>/."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = report_dir / f"{scenario.name}-{stamp}"
    where = make_target(target, scenario, directory / "run")
    result = await run_scenario(scenario, where, on_sample=on_sample, before_check=before_check)
    json_path, html_path = write_report(result, directory)
    return Outcome(result, json_path, html_path)


def run_local_sync(
    scenario: Scenario,
    *,
    report_dir: Path = DEFAULT_REPORT_DIR,
    on_sample: Callable[[Sample], None] | None = None,
    before_check: Hook | None = None,
    target: str = "local",
) -> Outcome:
    """`run_local` on an event loop of its own (the synchronous edge: CLI, pytest items).

    The loop is not made the thread's current loop, so a test framework's loop is untouched.
    """
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(
            run_local(
                scenario,
                report_dir=report_dir,
                on_sample=on_sample,
                before_check=before_check,
                target=target,
            )
        )
