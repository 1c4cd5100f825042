"""chaos/kind/run.sh (`make chaos`), run against stand-ins for docker, kind and kubectl that
record their calls: prerequisites first, then cluster, images, metrics-server, the overlay, the
scenario runner (python -m chaos.kubernetes, which gets no JSON from the stand-in kubectl, so
every scenario errors and the run exits 1), and the teardown. Nothing real is created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO, Manifest, named, pod_spec

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
def test_full_run_reaches_the_scenario_runner_and_tears_down(tmp_path: Path, keep: str) -> None:
    tools = _tools(tmp_path / "bin", ("docker", "kind", "kubectl"))
    ledger = tmp_path / "ledger"
    result = _run(
        f"{tools}{os.pathsep}{os.environ['PATH']}",
        tmp_path,
        KEEP=keep,
        KIND_LEDGER_DIR=str(ledger),
        CHAOS_ARGS=str(REPO / "scenarios" / "kind" / "kill-ingest.yaml"),
    )
    assert result.returncode == 1, result.stderr
    assert "scenario kind-kill-ingest: error" in result.stdout
    assert "get hpa -o json` printed no JSON" in result.stdout
    assert f"summary: {tmp_path / 'report' / 'summary.json'}" in result.stdout
    assert f"report: {tmp_path / 'report'}" in result.stderr
    calls = _calls(tmp_path)
    rendered = tmp_path / "report" / "cluster.yaml"
    create = f"kind create cluster --name nexus-chaos --config {rendered} --wait 180s"
    assert calls.index(create) < calls.index(
        "docker build -f deploy/docker/nexus.Dockerfile -t nexus-edge/nexus:0.1.0 ."
    )
    config = rendered.read_text(encoding="utf-8")
    assert config.count(f"hostPath: {ledger}\n") == 3
    assert "/tmp/nexus-kind-ledger" not in config.replace("# ", "")
    assert ledger.stat().st_mode & 0o1777 == 0o1777
    assert "kind load docker-image --name nexus-chaos nexus-edge/nexus:0.1.0" in calls
    assert "kind load docker-image --name nexus-chaos nexus-edge/twin:0.1.0" in calls
    assert any(c.startswith("kubectl --context kind-nexus-chaos apply -f https://") for c in calls)
    overlay = tmp_path / "report" / "manifests" / "k8s" / "overlays" / "kind"
    applied = calls.index(f"kubectl --context kind-nexus-chaos apply -k {overlay}")
    runner = calls.index("kubectl --context kind-nexus-chaos --namespace nexus get hpa -o json")
    assert applied < runner
    deleted = "kind delete cluster --name nexus-chaos" in calls
    assert deleted is (keep == "0")
    secrets = (overlay / "secrets.env").read_text(encoding="utf-8")
    assert "MQTT_INGEST_PASSWORD=" in secrets
    assert all(line.partition("=")[2] for line in secrets.splitlines())
    assert (overlay / "secrets.env").stat().st_mode & 0o077 == 0
    assert not (REPO / "deploy" / "k8s" / "overlays" / "kind" / "secrets.env").exists()


def test_the_cluster_mounts_the_ledger_directory_on_every_node() -> None:
    import yaml

    cluster = yaml.safe_load((REPO / "deploy" / "kind" / "cluster.yaml").read_text())
    for node in cluster["nodes"]:
        assert node["extraMounts"] == [
            {"hostPath": "/tmp/nexus-kind-ledger", "containerPath": "/var/lib/nexus-ledger"}
        ]


def test_kind_gateways_write_their_ledgers_to_the_node_mount(
    rendered: dict[str, list[Manifest]],
) -> None:
    """chaos/kubernetes reads `<pod>.jsonl` from the directory the nodes mount."""
    spec = pod_spec(named(rendered["kind"], "Deployment", "gateway"))
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    names = [e["name"] for e in container["env"]]
    assert env["NEXUS_GATEWAY_LEDGER"] == "/var/lib/nexus-ledger/$(POD_NAME).jsonl"
    assert names.index("POD_NAME") < names.index("NEXUS_GATEWAY_LEDGER")  # expanded
    assert {"name": "ledger", "mountPath": "/var/lib/nexus-ledger"} in container["volumeMounts"]
    assert {
        "name": "ledger",
        "hostPath": {"path": "/var/lib/nexus-ledger", "type": "Directory"},
    } in spec["volumes"]
    for overlay in ("dev", "prod"):
        gateway = pod_spec(named(rendered[overlay], "Deployment", "gateway"))
        assert all(v["name"] != "ledger" for v in gateway["volumes"])


def test_kind_twin_serves_its_fault_api_on_loopback(rendered: dict[str, list[Manifest]]) -> None:
    args = pod_spec(named(rendered["kind"], "Deployment", "twin"))["containers"][0]["args"]
    assert args[args.index("--api-port") + 1] == "8090"  # chaos/kubernetes FAULT_API_PORT
