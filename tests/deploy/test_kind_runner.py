"""chaos/kind/run.sh (`make chaos`), run against stand-ins for docker, kind and kubectl that
record their calls: prerequisites first, then cluster, images, metrics-server, the overlay, the
(not yet built) scenario runner, and the teardown. Nothing real is created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO

RUN = REPO / "chaos" / "kind" / "run.sh"
BASH = "/bin/bash"

FAKE = """#!/bin/sh
echo "${0##*/} $*" >> "$CALLS"
case "${0##*/} $*" in
  "kind get clusters") exit 0 ;;
  "docker info") [ -z "$DOCKER_DOWN" ] || exit 1 ;;
esac
exit 0
"""


def _tools(directory: Path, names: tuple[str, ...]) -> Path:
    directory.mkdir()
    for name in names:
        tool = directory / name
        tool.write_text(FAKE, encoding="utf-8")
        tool.chmod(0o755)
    return directory


def _run(path: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path,
        "CALLS": str(tmp_path / "calls.log"),
        "REPORT_DIR": str(tmp_path / "report"),
        "PYTHON": sys.executable,
        "HOME": str(tmp_path),
        **extra,
    }
    return subprocess.run(
        [BASH, str(RUN)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_missing_tools_are_named_and_exit_2(tmp_path: Path) -> None:
    only_docker = _tools(tmp_path / "bin", ("docker",))
    result = _run(str(only_docker), tmp_path)
    assert result.returncode == 2
    assert "missing prerequisites: kind kubectl" in result.stderr
    assert _calls(tmp_path) == []


def test_a_docker_without_daemon_exits_2(tmp_path: Path) -> None:
    tools = _tools(tmp_path / "bin", ("docker", "kind", "kubectl"))
    result = _run(str(tools), tmp_path, DOCKER_DOWN="1")
    assert result.returncode == 2
    assert "daemon is not reachable" in result.stderr
    assert _calls(tmp_path) == ["docker info"]


@pytest.mark.parametrize("keep", ["0", "1"])
def test_full_run_stops_at_the_missing_scenario_runner_and_tears_down(
    tmp_path: Path, keep: str
) -> None:
    tools = _tools(tmp_path / "bin", ("docker", "kind", "kubectl"))
    result = _run(f"{tools}{os.pathsep}{os.environ['PATH']}", tmp_path, KEEP=keep)
    assert result.returncode == 3, result.stderr
    assert "scenario runner not built yet" in result.stderr
    assert f"report: {tmp_path / 'report'}" in result.stderr
    calls = _calls(tmp_path)
    create = "kind create cluster --name nexus-chaos --config deploy/kind/cluster.yaml --wait 180s"
    assert calls.index(create) < calls.index(
        "docker build -f deploy/docker/nexus.Dockerfile -t nexus-edge/nexus:0.1.0 ."
    )
    assert "kind load docker-image --name nexus-chaos nexus-edge/nexus:0.1.0" in calls
    assert "kind load docker-image --name nexus-chaos nexus-edge/twin:0.1.0" in calls
    assert any(c.startswith("kubectl --context kind-nexus-chaos apply -f https://") for c in calls)
    overlay = tmp_path / "report" / "manifests" / "k8s" / "overlays" / "kind"
    assert f"kubectl --context kind-nexus-chaos apply -k {overlay}" in calls
    deleted = "kind delete cluster --name nexus-chaos" in calls
    assert deleted is (keep == "0")
    secrets = (overlay / "secrets.env").read_text(encoding="utf-8")
    assert "MQTT_INGEST_PASSWORD=" in secrets
    assert all(line.partition("=")[2] for line in secrets.splitlines())
    assert (overlay / "secrets.env").stat().st_mode & 0o077 == 0
    assert not (REPO / "deploy" / "k8s" / "overlays" / "kind" / "secrets.env").exists()
