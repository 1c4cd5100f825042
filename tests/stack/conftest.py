"""Fixtures for the stack tests, which run real Mosquitto and PostgreSQL."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.stack.tools import LOOPBACK, temp_run_dir


@pytest.fixture(scope="session")
def stack_root() -> Iterator[Path]:
    """A fresh directory for this session's services, removed at the end.

    Not pytest's tmp_path: as root the services run as unprivileged users, who cannot enter
    /tmp/pytest-of-root (mode 0700). temp_run_dir() adds o+x.
    """
    root = temp_run_dir(prefix="nexus-stack-test-")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def run_dir(stack_root: Path, request: pytest.FixtureRequest) -> Path:
    """A run directory of its own for one test (it does not exist yet)."""
    return temp_run_dir(prefix=f"{request.node.name[:16]}-", parent=stack_root) / "run"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held by a listener that never answers, like a foreign service."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(8)
        yield sock.getsockname()[1]
