"""`pytest scenarios/`: every scenarios/*.yaml is one test, run on the local target.

CI runs the short form: the timeline scaled by NEXUS_SCENARIO_SCALE (0.25 unless set; 1 is the
full form). Each run writes its report under reports/ (or NEXUS_SCENARIO_REPORTS).

`--target containers` (or NEXUS_SCENARIO_TARGET=containers) runs them with EMQX and TimescaleDB
in Docker containers (chaos/containers.py); without Docker they are skipped, with the reason.
scenarios/kind/ (the Kubernetes target, `make chaos`) is not collected here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.scenario import load_scenario, scale_from_env

CI_SCALE = 0.25
REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target",
        choices=("local", "containers"),
        default=None,
        help="where scenarios/*.yaml run (default: env NEXUS_SCENARIO_TARGET, else local)",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.parent == Path(__file__).parent:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(pytest.mark.integration)

    def runtest(self) -> None:
        from chaos.runner import run_local_sync, target_name, unavailable

        target = target_name(self.config.getoption("--target", default=None))
        reason = unavailable(target)
        if reason is not None:
            pytest.skip(reason)
        scenario = load_scenario(self.path, scale=scale_from_env(CI_SCALE))
        report_dir = Path(os.environ.get("NEXUS_SCENARIO_REPORTS", REPO / "reports"))
        outcome = run_local_sync(scenario, report_dir=report_dir, target=target)
        self.user_properties.append(("report", str(outcome.html_path)))
        if not outcome.result.passed:
            raise ScenarioFailed("\n".join([*outcome.result.failures, str(outcome.html_path)]))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"scenario {self.name} failed:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"
