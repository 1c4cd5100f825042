"""Rendering and reading of the Kubernetes manifests under deploy/k8s, for the deploy tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "kind")
KUBERNETES_VERSION = "1.31.0"
"""The API version the manifests are validated against: the kind node image's (deploy/kind)."""

WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})

SECRET_KEYS = (
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "NEXUS_DB_USER",
    "NEXUS_DB_PASSWORD",
    "MQTT_GATEWAY_USERNAME",
    "MQTT_GATEWAY_PASSWORD",
    "MQTT_INGEST_USERNAME",
    "MQTT_INGEST_PASSWORD",
    "EMQX_DASHBOARD_PASSWORD",
    "EMQX_NODE_COOKIE",
)


class KubectlMissingError(RuntimeError):
    """kubectl (with its built-in kustomize) is needed to render the overlays."""


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise KubectlMissingError(
            "kubectl is not installed: the deploy tests render deploy/k8s with "
            "`kubectl kustomize` (kubectl >= 1.27; https://kubernetes.io/docs/tasks/tools/)"
        )
    return path


def copy_with_test_secrets(destination: Path) -> Path:
    """A copy of deploy/k8s whose overlays have a secrets.env of dummy values; returns its root.

    The overlays generate the Secret from their (gitignored) secrets.env, which the repository
    never holds: the tests render a copy, never the working tree.
    """
    root = destination / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("secrets.env"))
    dummy = "".join(f"{key}=test-{key.lower().replace('_', '-')}\n" for key in SECRET_KEYS)
    for overlay in OVERLAYS:
        (root / "overlays" / overlay / "secrets.env").write_text(dummy, encoding="utf-8")
    return root


def render(directory: Path) -> list[Manifest]:
    """`kubectl kustomize DIRECTORY`, parsed."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def by_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj.get("kind") == kind]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    for obj in by_kind(objects, kind):
        if obj["metadata"]["name"] == name:
            return obj
    raise KeyError(f"no {kind} {name!r}")


def workloads(objects: list[Manifest]) -> list[Manifest]:
    return [obj for obj in objects if obj.get("kind") in WORKLOAD_KINDS]


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Manifest) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels
