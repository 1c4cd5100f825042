"""The containers target's selection and its Docker-absent message, without Docker: which
target a run gets, one plain sentence (never a traceback) when Docker or testcontainers is
missing, pytest skipping with that reason, and broker/database faults mapped to containers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos import containers
from chaos.containers import ContainerService, ContainersTarget, docker_unavailable
from chaos.errors import TargetUnavailable
from chaos.runner import TARGET_ENV, target_name, unavailable
from chaos.scenario import Component, Scenario
from nexus.cli.main import main
from nexus.errors import ConfigError, StackError

REPO = Path(__file__).resolve().parents[2]
NO_DAEMON = "unix:///nonexistent/docker.sock"


@pytest.fixture
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)


def test_the_target_is_given_else_from_the_environment_else_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TARGET_ENV, raising=False)
    assert target_name() == "local"
    monkeypatch.setenv(TARGET_ENV, "containers")
    assert target_name() == "containers"
    assert target_name("local") == "local"
    monkeypatch.setenv(TARGET_ENV, "kubernetes")
    with pytest.raises(ConfigError, match=r"NEXUS_SCENARIO_TARGET: 'kubernetes' is not one of"):
        target_name()
    assert unavailable("local") is None


@pytest.mark.usefixtures("no_docker")
def test_without_a_docker_daemon_the_reason_is_one_sentence() -> None:
    reason = docker_unavailable()
    assert reason is not None
    assert reason.startswith("the containers target needs a running Docker daemon")
    assert "\n" not in reason
    assert unavailable("containers") == reason


def test_without_testcontainers_the_reason_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers", None)
    reason = docker_unavailable()
    assert reason is not None
    assert "testcontainers package" in reason
    assert "pip install -e '.[containers]'" in reason


@pytest.mark.usefixtures("no_docker")
def test_the_target_refuses_to_exist_without_docker(tmp_path: Path) -> None:
    scenario = Scenario.model_validate({"name": "x", "plant": "p.yaml", "duration_s": 5})
    with pytest.raises(TargetUnavailable, match="needs a running Docker daemon"):
        ContainersTarget(scenario, tmp_path)


@pytest.mark.usefixtures("no_docker")
def test_the_cli_exits_2_with_one_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario = str(REPO / "scenarios" / "steady-state.yaml")
    code = main(["scenario", "run", scenario, "--target", "containers"])
    err = capsys.readouterr().err
    assert code == 2
    assert "nexus scenario run: the containers target needs a running Docker daemon" in err
    assert "Traceback" not in err


def test_pytest_skips_the_scenarios_with_the_reason(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": NO_DAEMON, "NEXUS_SCENARIO_REPORTS": str(tmp_path)}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q"),
            *(str(REPO / "scenarios" / "steady-state.yaml"), "--target", "containers"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 skipped" in result.stdout
    assert "the containers target needs a running Docker daemon" in result.stdout


class FakeContainer(ContainerService):
    def __init__(self) -> None:
        super().__init__("fake", "image:1", 1, {})
        self.calls: list[str] = []

    async def kill(self) -> None:
        self.calls.append("kill")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def pause(self) -> None:
        self.calls.append("pause")

    async def resume(self) -> None:
        self.calls.append("resume")

    async def start(self) -> None:
        self.calls.append("start")


async def test_broker_and_database_faults_act_on_their_containers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(containers, "require_docker", lambda: None)
    scenario = Scenario.model_validate({"name": "x", "plant": "p.yaml", "duration_s": 5})
    target = ContainersTarget(scenario, tmp_path)
    broker, database = FakeContainer(), FakeContainer()
    target.containers.mosquitto = broker
    target.containers.postgres = database  # type: ignore[assignment]
    await target.kill(Component.BROKER, 0)
    await target.start_component(Component.BROKER, 0)
    await target.pause(Component.DATABASE, 0)
    await target.resume(Component.DATABASE, 0)
    await target.stop_component(Component.DATABASE, 0)
    assert broker.calls == ["kill", "start"]
    assert database.calls == ["pause", "resume", "stop"]
    with pytest.raises(StackError, match="gateway-0 does not exist"):  # the local target's
        await target.kill(Component.GATEWAY, 0)
