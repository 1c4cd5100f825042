"""deploy/compose/docker-compose.yaml: valid against the Compose specification's JSON schema
(`docker compose config` needs Docker), with the design's ports, health checks, ordered start
and no plaintext credentials."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import REPO
from tests.deploy.policy import image_problem

COMPOSE = REPO / "deploy" / "compose" / "docker-compose.yaml"
ENV_TEMPLATE = REPO / "deploy" / "compose" / ".env.example"
CREDENTIAL = re.compile(r"PASSWORD|SECRET|COOKIE|TOKEN", re.IGNORECASE)
INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$")

# The design's development ports (host side). Adminer moved from 8084, which the issue gives
# to the ingest's health endpoint.
PORTS = {
    "emqx": {"1883:1883", "8083:8083", "18083:18083"},
    "timescaledb": {"5432:5432"},
    "gateway": {"8080:8080", "8081:8081"},
    "ingest": {"8084:8081"},
    "twin": {"5020-5050:5020-5050"},
    "adminer": {"8085:8080"},
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with COMPOSE.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def compose_schema() -> dict[str, Any]:
    """The Compose specification's schema, as vendored by check-jsonschema."""
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'.'.join(str(p) for p in error.path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []


def test_schema_check_can_fail(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["depends_on"]["emqx"]["condition"] = "service_up"
    broken["services"]["ingest"]["healthcheck"]["intervall"] = "5s"
    assert len(schema_errors(broken)) >= 2


def test_the_dev_stack_and_its_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == set(PORTS)
    for name, ports in PORTS.items():
        assert set(services[name].get("ports", [])) == ports, name


def test_every_service_has_a_health_check_and_waits_for_healthy_dependencies(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"
            assert dependency in compose["services"]
    assert set(compose["services"]["ingest"]["depends_on"]) == {"emqx", "timescaledb"}
    assert set(compose["services"]["gateway"]["depends_on"]) == {"emqx", "twin"}


def _credential_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form of environment"
        for key, value in environment.items():
            if CREDENTIAL.search(key) and not INTERPOLATION.match(str(value)):
                problems.append(f"{name}: {key} is not taken from the .env file")
    return problems


def test_no_plaintext_credentials(compose: dict[str, Any]) -> None:
    assert _credential_problems(compose) == []
    broken = json.loads(json.dumps(compose))
    broken["services"]["ingest"]["environment"]["PGPASSWORD"] = "hunter2"
    assert _credential_problems(broken) == ["ingest: PGPASSWORD is not taken from the .env file"]


def test_env_template_defines_every_variable_and_holds_no_secret(
    compose: dict[str, Any],
) -> None:
    template = {}
    for line in ENV_TEMPLATE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            template[key] = value
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text(encoding="utf-8")))
    assert used == set(template)
    for key, value in template.items():
        if CREDENTIAL.search(key):
            assert value == "", f"{key} has a value in .env.example"
    assert not (REPO / "deploy" / "compose" / ".env").exists() or ".env" in (
        REPO / "deploy" / ".gitignore"
    ).read_text(encoding="utf-8")


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert image_problem(service["image"]) is None, name


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    base = COMPOSE.parent
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (base / source).is_file(), f"{name}: {source} does not exist"


def test_stable_mqtt_client_ids(compose: dict[str, Any]) -> None:
    """A restarted ingest must come back with the same client id to resume its session."""
    ids = [compose["services"][s]["environment"]["POD_NAME"] for s in ("gateway", "ingest")]
    assert len(set(ids)) == 2
