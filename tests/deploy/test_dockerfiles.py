"""deploy/docker/*.Dockerfile, linted structurally: pinned base images, multi-stage, a numeric
non-root USER, a HEALTHCHECK, an entry point; and a .dockerignore that keeps the context small."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.manifests import REPO
from tests.deploy.policy import image_problem

DOCKER = REPO / "deploy" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, instruction: str) -> str | None:
        values = [arg for ins, arg in self.instructions if ins == instruction]
        return values[-1] if values else None


def parse(text: str) -> list[Stage]:
    """Stages of a Dockerfile: (instruction, argument) pairs, continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", argument, re.I)
            assert match, line
            stages.append(Stage(base=match.group(1), name=match.group(2)))
        elif stages:
            stages[-1].instructions.append((instruction, argument.strip()))
    return stages


def problems(text: str) -> list[str]:
    stages = parse(text)
    found: list[str] = []
    if len(stages) < 2:
        found.append("not multi-stage")
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base not in names:
            problem = image_problem(stage.base)
            if problem:
                found.append(problem)
            elif not stage.base.startswith("python:3.11."):
                found.append(f"base {stage.base} is not python:3.11.x")
    final = stages[-1] if stages else Stage(base="", name=None)
    user = final.last("USER")
    if user is None:
        found.append("no USER in the final stage")
    elif not re.fullmatch(r"[1-9]\d*(:\d+)?", user):
        found.append(f"USER {user} is not a numeric non-root id")
    if final.last("HEALTHCHECK") is None or final.last("HEALTHCHECK") == "NONE":
        found.append("no HEALTHCHECK in the final stage")
    if final.last("ENTRYPOINT") is None:
        found.append("no ENTRYPOINT in the final stage")
    if any(ins == "ADD" for s in stages for ins, _ in s.instructions):
        found.append("ADD used (COPY says what it does)")
    return found


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_pinned_non_root_and_healthchecked(path: Path) -> None:
    assert problems(path.read_text(encoding="utf-8")) == []


def test_all_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {
        "nexus.Dockerfile",
        "twin.Dockerfile",
        "load.Dockerfile",
    }


def test_entry_points() -> None:
    entry = {
        p.stem: parse(p.read_text(encoding="utf-8"))[-1].last("ENTRYPOINT") for p in DOCKERFILES
    }
    assert entry == {
        "nexus": '["nexus"]',
        "twin": '["nexus", "sim", "fleet"]',
        "load": '["locust", "-f", "/app/load/locustfile.py"]',
    }


def test_lint_can_fail() -> None:
    broken = 'FROM python:latest\nRUN pip install .\nUSER root\nENTRYPOINT ["nexus"]\n'
    assert problems(broken) == [
        "not multi-stage",
        "image 'python:latest' is not pinned to a version (tag 'latest')",
        "USER root is not a numeric non-root id",
        "no HEALTHCHECK in the final stage",
    ]


def test_dockerignore_keeps_the_context_to_what_the_images_copy() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("*")] == "*", "everything is excluded first"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for path in DOCKERFILES:
        for stage in parse(path.read_text(encoding="utf-8")):
            for instruction, argument in stage.instructions:
                if instruction == "COPY" and not argument.startswith("--from"):
                    copied.update(argument.split()[:-1])
    for source in copied:
        assert any(source.rstrip("/") == a or source.startswith(a + "/") for a in allowed), source
