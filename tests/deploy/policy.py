"""Policy checks of rendered Kubernetes manifests: each returns the violations it found.

Pure functions over parsed objects, so the tests can prove on purpose-built broken manifests
that every check can fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.deploy.manifests import Manifest, by_kind, pod_labels, pod_spec, workloads

MIN_GRACE_PERIOD_S = 30
"""A gateway drains its unacknowledged publishes, an ingest commits its batch: both need time."""

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _where(obj: Manifest) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def _containers(spec: Manifest, *, init: bool) -> Iterator[tuple[str, Manifest]]:
    for container in spec.get("containers", []):
        yield "container", container
    if init:
        for container in spec.get("initContainers", []):
            yield "initContainer", container


def image_problem(image: str) -> str | None:
    """Why `image` is not pinned, or None: a version tag (not latest) or a sha256 digest."""
    if _DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (means :latest)"
    tag = last.rsplit(":", 1)[1]
    if tag == "latest" or not any(ch.isdigit() for ch in tag):
        return f"image {image!r} is not pinned to a version (tag {tag!r})"
    return None


def check_containers(objects: list[Manifest]) -> list[str]:
    """Requests, limits, probes, hardening and pinned images of every container."""
    problems: list[str] = []
    for workload in workloads(objects):
        spec = pod_spec(workload)
        pod_sc: Manifest = spec.get("securityContext", {})
        grace = spec.get("terminationGracePeriodSeconds", 30)
        if grace < MIN_GRACE_PERIOD_S:
            problems.append(f"{_where(workload)}: terminationGracePeriodSeconds {grace} < 30")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{_where(workload)}: automountServiceAccountToken is not false")
        for role, container in _containers(spec, init=True):
            where = f"{_where(workload)} {role} {container.get('name')}"
            resources: Manifest = container.get("resources", {})
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(section, {}):
                        problems.append(f"{where}: no {section}.{resource}")
            if role == "container":
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in container:
                        problems.append(f"{where}: no {probe}")
            sc: Manifest = container.get("securityContext", {})
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot", False)):
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities do not drop ALL")
            seccomp: Manifest = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is not RuntimeDefault")
            problem = image_problem(str(container.get("image", "")))
            if problem:
                problems.append(f"{where}: {problem}")
    return problems


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """A label selector with matchLabels only (matchExpressions are not used here)."""
    if selector.get("matchExpressions"):
        return False
    match: dict[str, str] = selector.get("matchLabels", {})
    return all(labels.get(key) == value for key, value in match.items())


def _same_namespace(a: Manifest, b: Manifest) -> bool:
    return bool(a["metadata"].get("namespace") == b["metadata"].get("namespace"))


def check_disruption_budgets(objects: list[Manifest]) -> list[str]:
    """Every workload is covered by a PodDisruptionBudget."""
    budgets = by_kind(objects, "PodDisruptionBudget")
    return [
        f"{_where(w)}: no PodDisruptionBudget selects its pods"
        for w in workloads(objects)
        if not any(
            _same_namespace(w, pdb) and _selects(pdb["spec"]["selector"], pod_labels(w))
            for pdb in budgets
        )
    ]


def check_network_policies(objects: list[Manifest]) -> list[str]:
    """A default-deny policy per namespace, and a policy of its own for every workload."""
    problems: list[str] = []
    policies = by_kind(objects, "NetworkPolicy")
    namespaces = {w["metadata"].get("namespace") for w in workloads(objects)}
    for namespace in sorted(str(n) for n in namespaces):
        if not any(
            p["metadata"].get("namespace") == namespace
            and p["spec"].get("podSelector") == {}
            and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
            for p in policies
        ):
            problems.append(f"namespace {namespace}: no default-deny NetworkPolicy")
    for workload in workloads(objects):
        if not any(
            _same_namespace(workload, p)
            and p["spec"].get("podSelector")
            and _selects(p["spec"]["podSelector"], pod_labels(workload))
            for p in policies
        ):
            problems.append(f"{_where(workload)}: no NetworkPolicy of its own selects its pods")
    return problems


def check_pod_name_env(objects: list[Manifest], names: tuple[str, ...]) -> list[str]:
    """The services' MQTT client id is the pod name: POD_NAME from the downward API."""
    problems: list[str] = []
    for workload in workloads(objects):
        if workload["metadata"]["name"] not in names:
            continue
        for container in pod_spec(workload)["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            field = env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {})
            if field.get("fieldPath") != "metadata.name":
                problems.append(f"{_where(workload)}: POD_NAME is not the pod name")
    return problems


def check_service_probes(objects: list[Manifest], names: tuple[str, ...]) -> list[str]:
    """NEXUS services: liveness /health and readiness /ready on port 8081 (named http)."""
    problems: list[str] = []
    for workload in workloads(objects):
        if workload["metadata"]["name"] not in names:
            continue
        for container in pod_spec(workload)["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
                get: Manifest = container.get(probe, {}).get("httpGet", {})
                port = get.get("port")
                number = ports.get(port) if isinstance(port, str) else port
                if get.get("path") != path or number != 8081:
                    problems.append(f"{_where(workload)}: {probe} is not GET {path} on 8081")
    return problems


@dataclass(frozen=True, slots=True)
class ScalingRule:
    """The design's autoscaling: bounds, triggers and the rate of scaling."""

    target_kind: str
    min_replicas: int
    max_replicas: int
    cpu_percent: int = 70
    memory_percent: int = 80
    up_pods: int = 2
    up_period_s: int = 60
    down_pods: int = 1
    down_period_s: int = 120
    down_stabilization_s: int = 300


def check_autoscaler(hpa: Manifest, rule: ScalingRule) -> list[str]:
    where = _where(hpa)
    spec: Manifest = hpa["spec"]
    problems: list[str] = []
    if spec["scaleTargetRef"]["kind"] != rule.target_kind:
        problems.append(f"{where}: scales a {spec['scaleTargetRef']['kind']}")
    if (spec.get("minReplicas"), spec["maxReplicas"]) != (rule.min_replicas, rule.max_replicas):
        problems.append(
            f"{where}: replicas {spec.get('minReplicas')}-{spec['maxReplicas']}, "
            f"designed {rule.min_replicas}-{rule.max_replicas}"
        )
    targets = {
        m["resource"]["name"]: m["resource"]["target"]
        for m in spec.get("metrics", [])
        if m.get("type") == "Resource"
    }
    for resource, percent in (("cpu", rule.cpu_percent), ("memory", rule.memory_percent)):
        target: Manifest = targets.get(resource, {})
        if target.get("type") != "Utilization" or target.get("averageUtilization") != percent:
            problems.append(f"{where}: {resource} target is not {percent} % utilization")
    behavior: Manifest = spec.get("behavior", {})
    up: Manifest = behavior.get("scaleUp", {})
    down: Manifest = behavior.get("scaleDown", {})
    up_pods = [p for p in up.get("policies", []) if p["type"] == "Pods"]
    if [(p["value"], p["periodSeconds"]) for p in up_pods] != [(rule.up_pods, rule.up_period_s)]:
        problems.append(f"{where}: scale-up is not {rule.up_pods} pods per {rule.up_period_s} s")
    if len(up.get("policies", [])) > 1 and up.get("selectPolicy") != "Min":
        problems.append(f"{where}: scale-up policies are not limited by selectPolicy Min")
    down_policies = [(p["type"], p["value"], p["periodSeconds"]) for p in down.get("policies", [])]
    if down_policies != [("Pods", rule.down_pods, rule.down_period_s)]:
        problems.append(
            f"{where}: scale-down is not {rule.down_pods} pod per {rule.down_period_s} s"
        )
    if down.get("stabilizationWindowSeconds") != rule.down_stabilization_s:
        problems.append(f"{where}: scale-down stabilization is not {rule.down_stabilization_s} s")
    return problems


def check_no_secret_values(objects: list[Any]) -> list[str]:
    """No Secret object in the repository carries a value (they are generated or created)."""
    return [
        f"{_where(obj)}: a Secret with values in the repository"
        for obj in objects
        if isinstance(obj, dict)
        and obj.get("kind") == "Secret"
        and (obj.get("data") or obj.get("stringData"))
    ]
