"""Fixtures of the deploy tests: the overlays rendered once per session, from a copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.manifests import OVERLAYS, Manifest, copy_with_test_secrets, render


@pytest.fixture(scope="session")
def k8s_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_with_test_secrets(tmp_path_factory.mktemp("deploy"))


@pytest.fixture(scope="session")
def rendered(k8s_copy: Path) -> dict[str, list[Manifest]]:
    """overlay name (and "base") → its objects, as `kubectl kustomize` renders them."""
    result = {"base": render(k8s_copy / "base")}
    for overlay in OVERLAYS:
        result[overlay] = render(k8s_copy / "overlays" / overlay)
    return result
