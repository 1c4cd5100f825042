"""Policies of the rendered manifests: hardening, probes, budgets, network policies, scaling.

Each check also runs on a deliberately broken manifest, to prove it can fail.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    Manifest,
    load_documents,
    named,
    pod_spec,
)
from tests.deploy.policy import (
    ScalingRule,
    check_autoscaler,
    check_containers,
    check_disruption_budgets,
    check_network_policies,
    check_no_secret_values,
    check_pod_name_env,
    check_service_probes,
    image_problem,
)

SERVICES = ("gateway", "ingest")
DESIGN = {
    "gateway": ScalingRule(target_kind="Deployment", min_replicas=2, max_replicas=10),
    # A StatefulSet: stable MQTT client ids, so a replaced pod resumes its persistent session.
    "ingest": ScalingRule(target_kind="StatefulSet", min_replicas=2, max_replicas=8),
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_hardened_probed_and_bounded(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    assert check_containers(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_disruption_budget_and_network_policy(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    assert check_disruption_budgets(objects) == []
    assert check_network_policies(objects) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_probe_health_and_readiness_and_know_their_pod_name(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    assert check_service_probes(objects, SERVICES) == []
    assert check_pod_name_env(objects, SERVICES) == []


@pytest.mark.parametrize("name", SERVICES)
def test_prod_autoscaling_is_the_design(rendered: dict[str, list[Manifest]], name: str) -> None:
    hpa = named(rendered["prod"], "HorizontalPodAutoscaler", name)
    assert check_autoscaler(hpa, DESIGN[name]) == []


def test_prod_runs_a_three_node_broker(rendered: dict[str, list[Manifest]]) -> None:
    emqx = named(rendered["prod"], "StatefulSet", "emqx")
    assert emqx["spec"]["replicas"] == 3
    env = {e["name"]: e.get("value") for e in pod_spec(emqx)["containers"][0]["env"]}
    assert env["EMQX_CLUSTER__DISCOVERY_STRATEGY"] == "dns"
    assert env["EMQX_CLUSTER__DNS__RECORD_TYPE"] in {"srv", "a"}
    headless = named(rendered["prod"], "Service", emqx["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True


def test_dev_runs_one_replica_of_everything(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["dev"]
    assert not [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            assert obj["spec"].get("replicas", 1) == 1, obj["metadata"]["name"]


def test_kind_runs_the_twin_with_local_images(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["kind"]
    twin = named(objects, "Deployment", "twin")
    for name, kind in (
        ("twin", "Deployment"),
        ("gateway", "Deployment"),
        ("ingest", "StatefulSet"),
    ):
        container = pod_spec(named(objects, kind, name))["containers"][0]
        assert container["image"].startswith("nexus-edge/")
        assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod_spec(twin)["containers"][0]["ports"][0]["containerPort"] == 5020
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"} == {
        "gateway",
        "ingest",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_periods_fit_a_flush(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    ingest = pod_spec(named(rendered[overlay], "StatefulSet", "ingest"))
    env = {e["name"]: e.get("value") for e in ingest["containers"][0]["env"]}
    assert (
        float(env["NEXUS_INGEST_SHUTDOWN_TIMEOUT"]) + 10 <= ingest["terminationGracePeriodSeconds"]
    )
    gateway = pod_spec(named(rendered[overlay], "Deployment", "gateway"))
    assert gateway["terminationGracePeriodSeconds"] >= 30


def test_no_secret_with_values_is_committed() -> None:
    documents = [doc for path in sorted(K8S.rglob("*.yaml")) for doc in load_documents(path)]
    assert check_no_secret_values(documents) == []
    assert not list(K8S.rglob("secrets.env")), "secrets.env must stay out of the repository"
    template = (K8S / "secrets.env.example").read_text(encoding="utf-8")
    for line in template.splitlines():
        key, _, value = line.partition("=")
        if line and not line.startswith("#") and ("PASSWORD" in key or "COOKIE" in key):
            assert value == "", f"{key} has a value in the template"


# -- the checks can fail ------------------------------------------------------------------------


def _broken(rendered: dict[str, list[Manifest]]) -> tuple[list[Manifest], Manifest]:
    objects = copy.deepcopy(rendered["prod"])
    return objects, named(objects, "Deployment", "gateway")


def test_container_check_finds_every_missing_safeguard(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects, gateway = _broken(rendered)
    spec = pod_spec(gateway)
    spec["terminationGracePeriodSeconds"] = 5
    container = spec["containers"][0]
    del container["resources"]["limits"]
    del container["livenessProbe"]
    container["securityContext"] = {"runAsNonRoot": False}
    container["image"] = "nexus-edge/nexus:latest"
    problems = "\n".join(check_containers(objects))
    for expected in (
        "terminationGracePeriodSeconds 5",
        "no limits.cpu",
        "no limits.memory",
        "no livenessProbe",
        "runAsNonRoot is not true",
        "readOnlyRootFilesystem is not true",
        "allowPrivilegeEscalation is not false",
        "capabilities do not drop ALL",
        "is not pinned",
    ):
        assert expected in problems


def test_budget_and_network_policy_checks_find_uncovered_workloads(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects, gateway = _broken(rendered)
    gateway["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "rogue"
    objects = [o for o in objects if o["metadata"]["name"] != "default-deny"]
    assert check_disruption_budgets(objects) == [
        "Deployment/nexus/gateway: no PodDisruptionBudget selects its pods"
    ]
    assert check_network_policies(objects) == [
        "namespace nexus: no default-deny NetworkPolicy",
        "Deployment/nexus/gateway: no NetworkPolicy of its own selects its pods",
    ]


def test_autoscaler_check_finds_a_deviation_from_the_design(
    rendered: dict[str, list[Manifest]],
) -> None:
    hpa = copy.deepcopy(named(rendered["prod"], "HorizontalPodAutoscaler", "gateway"))
    hpa["spec"]["maxReplicas"] = 20
    hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = 0
    hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] = 90
    problems = check_autoscaler(hpa, DESIGN["gateway"])
    assert len(problems) == 3, problems


def test_probe_and_pod_name_checks_fail_without_them(
    rendered: dict[str, list[Manifest]],
) -> None:
    objects, gateway = _broken(rendered)
    container = pod_spec(gateway)["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = "/health"
    container["env"] = [e for e in container["env"] if e["name"] != "POD_NAME"]
    assert check_service_probes(objects, ("gateway",)) == [
        "Deployment/nexus/gateway: readinessProbe is not GET /ready on 8081"
    ]
    assert check_pod_name_env(objects, ("gateway",)) == [
        "Deployment/nexus/gateway: POD_NAME is not the pod name"
    ]


def test_secret_check_finds_committed_values(tmp_path: Path) -> None:
    leaked = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "b"}}
    assert check_no_secret_values([leaked]) == [
        "Secret/-/x: a Secret with values in the repository"
    ]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("emqx/emqx:5.8.6", True),
        ("nexus-edge/nexus:0.1.0", True),
        ("python@sha256:" + "0" * 64, True),
        ("emqx/emqx", False),
        ("emqx/emqx:latest", False),
        ("registry:5000/emqx", False),
        ("adminer:standalone", False),
    ],
)
def test_image_pinning(image: str, pinned: bool) -> None:
    assert (image_problem(image) is None) is pinned
