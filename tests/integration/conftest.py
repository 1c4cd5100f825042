"""Fixtures of the integration tests that need a stack of their own."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

from nexus.stack.local import LocalStack
from nexus.stack.tools import temp_run_dir


@pytest.fixture(scope="module")
async def own_stack(request: pytest.FixtureRequest) -> AsyncIterator[LocalStack]:
    """A stack for one test module alone: its tests stop and start the broker or database."""
    run_dir = temp_run_dir(prefix=f"nexus-{request.module.__name__.rsplit('.', 1)[-1]}-")
    stack = LocalStack(run_dir=run_dir, fast=True)
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
