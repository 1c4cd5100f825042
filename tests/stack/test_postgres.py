"""The private PostgreSQL server: password login, restart on the same data, clean stops."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from nexus.errors import StackError
from nexus.stack.postgres import Postgres
from nexus.stack.process import pid_alive
from tests.stack.helpers import all_gone, descendants, processes_with

pytestmark = pytest.mark.integration


async def test_login_with_password_and_database_exists(run_dir: Path) -> None:
    async with Postgres(run_dir, fast=True) as pg:
        assert pg.dsn == f"postgresql://nexus:{pg.password}@127.0.0.1:{pg.port}/nexus"
        conn = await asyncpg.connect(pg.dsn)
        try:
            row = await conn.fetchrow("SELECT current_user, current_database()")
            assert tuple(row) == ("nexus", "nexus")
            assert await conn.fetchval("SHOW fsync") == "off"
            assert await conn.fetchval("SHOW server_encoding") == "UTF8"
        finally:
            await conn.close()


async def test_wrong_password_is_refused(run_dir: Path) -> None:
    async with Postgres(run_dir, fast=True) as pg:
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(
                host=pg.host, port=pg.port, user=pg.user, password="wrong", database="nexus"
            )


async def test_durable_by_default(run_dir: Path) -> None:
    async with Postgres(run_dir) as pg:
        conn = await asyncpg.connect(pg.dsn)
        try:
            assert await conn.fetchval("SHOW fsync") == "on"
            assert await conn.fetchval("SHOW synchronous_commit") == "on"
        finally:
            await conn.close()


async def test_stop_and_start_again_keeps_data_and_port(run_dir: Path) -> None:
    async with Postgres(run_dir, fast=True) as pg:
        conn = await asyncpg.connect(pg.dsn)
        try:
            await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        port, first_pid = pg.port, pg.pid
        await pg.stop()
        assert not pg.running()
        assert first_pid is not None
        assert not pid_alive(first_pid)
        with pytest.raises(ConnectionRefusedError):
            await asyncpg.connect(pg.dsn)
        await pg.start()
        assert pg.port == port
        conn = await asyncpg.connect(pg.dsn)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == 42
        finally:
            await conn.close()


async def test_a_new_object_reuses_an_existing_data_dir(run_dir: Path) -> None:
    async with Postgres(run_dir, fast=True) as pg:
        password = pg.password
        conn = await asyncpg.connect(pg.dsn)
        try:
            await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
        finally:
            await conn.close()
    async with Postgres(run_dir, fast=True) as again:
        assert again.password == password
        conn = await asyncpg.connect(again.dsn)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == 7
        finally:
            await conn.close()


async def test_no_process_remains_after_exit(run_dir: Path) -> None:
    async with Postgres(run_dir, fast=True) as pg:
        assert pg.pid is not None
        conn = await asyncpg.connect(pg.dsn)  # a backend process too
        pids = {pg.pid} | descendants(pg.pid)
        assert len(pids) > 1
    await conn.close()  # the server is gone; closing must not hang
    assert all_gone(pids)
    assert processes_with(str(run_dir)) == set()


async def test_port_already_taken_is_a_clear_error(run_dir: Path, busy_port: int) -> None:
    with pytest.raises(StackError, match="postgres exited") as caught:
        async with Postgres(run_dir, port=busy_port, fast=True):
            pass
    assert "could not bind" in str(caught.value)
    assert processes_with(str(run_dir)) == set()
