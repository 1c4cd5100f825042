"""Shared fixtures: one real local stack (Mosquitto + PostgreSQL) per test session."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from nexus.settings import MqttSettings
from nexus.stack.local import LocalStack, StackInfo
from nexus.stack.tools import temp_run_dir


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[StackInfo]:
    """Not under pytest's tmp_path: as root the services run as unprivileged users, who
    cannot enter /tmp/pytest-of-root (mode 0700)."""
    run_dir = temp_run_dir(prefix="nexus-test-stack-")
    try:
        async with LocalStack(run_dir=run_dir, fast=True) as info:
            yield info
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def mqtt_settings(stack: StackInfo) -> MqttSettings:
    """Broker settings with a client id unique to the test."""
    return MqttSettings(
        host=stack.mqtt_host,
        port=stack.mqtt_port,
        username=stack.mqtt_username,
        password=stack.mqtt_password,
        client_id=f"test-{uuid.uuid4().hex[:8]}",
        # Sessions of finished tests must not keep taking shares of later tests' messages.
        session_expiry_s=2,
    )


@pytest.fixture
async def fresh_db(stack: StackInfo) -> AsyncIterator[asyncpg.Connection]:
    """A connection to an emptied historian (tables dropped; the ingest recreates them)."""
    conn = await asyncpg.connect(stack.db_dsn)
    await conn.execute("DROP TABLE IF EXISTS metrics CASCADE; DROP TABLE IF EXISTS dead_letters")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def share_group() -> str:
    """A shared-subscription group of the test's own."""
    return f"test{uuid.uuid4().hex[:8]}"
