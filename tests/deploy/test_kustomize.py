"""deploy/k8s renders with kustomize, validates against the Kubernetes API schemas, and keeps
the layout: one object per file, named <component>-<kind>.yaml, every file listed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    KubectlMissingError,
    Manifest,
    by_kind,
    kubectl,
    load_documents,
    named,
    render,
)

ALL = ("base", *OVERLAYS)


def test_kubectl_missing_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.devnull)
    with pytest.raises(KubectlMissingError, match="kubectl is not installed"):
        kubectl()


@pytest.mark.parametrize("overlay", ALL)
def test_renders_into_namespace_nexus(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    assert objects
    for obj in objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "nexus"
        else:
            assert obj["metadata"].get("namespace") == "nexus", obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", ALL)
def test_every_object_validates_against_the_api_schemas(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    problems = []
    for obj in rendered[overlay]:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_schema_validation_rejects_a_wrong_field(rendered: dict[str, list[Manifest]]) -> None:
    broken = dict(named(rendered["prod"], "PodDisruptionBudget", "gateway"))
    broken["spec"] = {**broken["spec"], "maxUnavailabel": 1}
    with pytest.raises(kubernetes_validate.ValidationError, match="maxUnavailabel"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_generate_the_secret_from_secrets_env(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    (secret,) = by_kind(rendered[overlay], "Secret")
    assert secret["metadata"]["name"].startswith("nexus-secrets-")
    references = [
        ref["secretKeyRef"]["name"]
        for obj in rendered[overlay]
        if obj["kind"] in {"Deployment", "StatefulSet"}
        for container in obj["spec"]["template"]["spec"]["containers"]
        for env in container.get("env", [])
        if (ref := env.get("valueFrom", {})) and "secretKeyRef" in ref
    ]
    assert references
    assert set(references) == {secret["metadata"]["name"]}


def test_an_overlay_without_secrets_env_does_not_render(tmp_path: Path) -> None:
    """Fail closed: no credentials file, no manifests (rather than an empty Secret)."""
    root = tmp_path / "k8s"
    shutil.copytree(K8S, root, ignore=shutil.ignore_patterns("secrets.env"))
    with pytest.raises(AssertionError, match=r"secrets\.env"):
        render(root / "overlays" / "prod")


def _object_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


@pytest.mark.parametrize("directory", ["base", "overlays/kind"])
def test_one_object_per_file_named_component_kind(directory: str) -> None:
    problems = []
    for path in _object_files(K8S / directory):
        documents = load_documents(path)
        if len(documents) != 1:
            problems.append(f"{path.name}: {len(documents)} objects")
            continue
        (obj,) = documents
        expected = f"{obj['metadata']['name']}-{obj['kind'].lower()}.yaml"
        if path.name != expected:
            problems.append(f"{path.name}: holds {obj['kind']} {obj['metadata']['name']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("directory", ["base", "overlays/dev", "overlays/prod", "overlays/kind"])
def test_kustomization_lists_every_object_file(directory: str) -> None:
    (kustomization,) = load_documents(K8S / directory / "kustomization.yaml")
    assert "bases" not in kustomization, "use resources:, not the deprecated bases:"
    listed = {r for r in kustomization.get("resources", []) if not r.startswith("..")}
    present = {p.name for p in _object_files(K8S / directory)}
    assert listed == present


def test_the_secret_template_names_every_key_the_manifests_use(
    rendered: dict[str, list[Manifest]],
) -> None:
    template = (K8S / "secrets.env.example").read_text(encoding="utf-8")
    keys = {
        line.split("=", 1)[0] for line in template.splitlines() if line and not line.startswith("#")
    }
    (secret,) = by_kind(rendered["prod"], "Secret")
    used = {
        ref["secretKeyRef"]["key"]
        for obj in rendered["prod"]
        if obj["kind"] in {"Deployment", "StatefulSet"}
        for container in obj["spec"]["template"]["spec"]["containers"]
        for env in container.get("env", [])
        if (ref := env.get("valueFrom", {})) and "secretKeyRef" in ref
    }
    assert used <= keys == set(secret["data"])
