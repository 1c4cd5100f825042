"""The local stack as a whole: connection info, no orphans, and `nexus stack up|down`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import asyncpg
import pytest

from nexus.cli.stack import register
from nexus.errors import StackError
from nexus.stack.local import LocalStack, StackInfo
from nexus.stack.mosquitto import mqtt_probe
from nexus.stack.process import pid_alive
from tests.stack.helpers import all_gone, descendants, processes_with, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def assert_reachable(info: StackInfo) -> None:
    async with asyncio.timeout(10):
        await mqtt_probe(info.mqtt_host, info.mqtt_port, info.mqtt_username, info.mqtt_password)
    conn = await asyncpg.connect(info.db_dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == "nexus"
    finally:
        await conn.close()


async def test_stack_info_env_and_clean_exit(run_dir: Path) -> None:
    stack = LocalStack(run_dir, fast=True)
    async with stack as info:
        await assert_reachable(info)
        assert info.run_dir == stack.run_dir == run_dir
        assert info.to_env() == {
            "NEXUS_MQTT_HOST": "127.0.0.1",
            "NEXUS_MQTT_PORT": str(info.mqtt_port),
            "NEXUS_MQTT_USERNAME": "nexus",
            "NEXUS_MQTT_PASSWORD": info.mqtt_password,
            "NEXUS_DB_DSN": info.db_dsn,
        }
        assert info.mqtt_password not in repr(info)
        assert stack.mosquitto.pid is not None
        assert stack.postgres.pid is not None
        pids = {stack.mosquitto.pid, stack.postgres.pid} | descendants(stack.postgres.pid)
        assert (run_dir / "mosquitto" / "mosquitto.conf").exists()
        assert (run_dir / "postgres" / "data" / "PG_VERSION").exists()
    assert all_gone(pids)
    assert processes_with(str(run_dir)) == set()


async def test_a_failing_service_stops_the_other(run_dir: Path, busy_port: int) -> None:
    with pytest.raises(StackError, match="postgres exited"):
        async with LocalStack(run_dir, fast=True, db_port=busy_port):
            pytest.fail("the stack must not start")
    assert processes_with(str(run_dir)) == set()


async def test_a_cancelled_start_leaves_nothing_running(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during start: the services already spawned must be stopped, not orphaned."""

    async def never_ready(*args: object, **kwargs: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(asyncpg, "connect", never_ready)
    task = asyncio.create_task(LocalStack(run_dir, fast=True).start())
    data_dir, mosquitto_dir = str(run_dir / "postgres" / "data"), str(run_dir / "mosquitto")
    await wait_until(lambda: bool(processes_with(data_dir)), what="postgres spawned")
    await wait_until(lambda: bool(processes_with(mosquitto_dir)), what="mosquitto spawned")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_with(str(run_dir)) == set()


async def test_services_die_with_a_killed_parent(run_dir: Path) -> None:
    """SIGKILL gives no chance to clean up: PR_SET_PDEATHSIG must take the services down."""
    script = textwrap.dedent(
        f"""
        import asyncio, json
        from nexus.stack.local import LocalStack

        async def main():
            stack = LocalStack({str(run_dir)!r}, fast=True)
            await stack.start()
            print(json.dumps([stack.mosquitto.pid, stack.postgres.pid]), flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
        """
    )
    env = os.environ | {"PYTHONPATH": str(REPO)}
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, env=env
    )
    assert parent.stdout is not None
    try:
        line = await asyncio.wait_for(parent.stdout.readline(), 60)
        mosquitto_pid, postgres_pid = json.loads(line)
        pids = {mosquitto_pid, postgres_pid} | descendants(postgres_pid)
        assert not all_gone(pids)
    finally:
        parent.kill()
        await parent.wait()
    await wait_until(lambda: all_gone(pids), what="services to die with their parent")
    await wait_until(lambda: processes_with(str(run_dir)) == set(), what="no orphans")


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nexus")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def parse_exports(output: str) -> dict[str, str]:
    exports = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = value
    return exports


async def run_cli(*argv: str) -> int:
    """Run a CLI command (it calls asyncio.run) in a worker thread, off our event loop."""
    args = cli(*argv)
    code: int = await asyncio.to_thread(args.func, args)
    return code


async def test_cli_up_and_down_round_trip(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("stack", "up", "--run-dir", str(run_dir), "--fast") == 0
    try:
        exports = parse_exports(capsys.readouterr().out)
        assert set(exports) == {
            "NEXUS_MQTT_HOST",
            "NEXUS_MQTT_PORT",
            "NEXUS_MQTT_USERNAME",
            "NEXUS_MQTT_PASSWORD",
            "NEXUS_DB_DSN",
        }
        state_file = run_dir / "stack.json"
        assert state_file.stat().st_mode & 0o777 == 0o600
        state = json.loads(state_file.read_text())
        pids = {state["mosquitto"]["pid"], state["postgres"]["pid"]}
        # detached: in their own sessions, not children of this process
        for pid in pids:
            assert os.getsid(pid) == pid
            assert pid not in descendants(os.getpid())
        info = StackInfo(
            mqtt_host=exports["NEXUS_MQTT_HOST"],
            mqtt_port=int(exports["NEXUS_MQTT_PORT"]),
            mqtt_username=exports["NEXUS_MQTT_USERNAME"],
            mqtt_password=exports["NEXUS_MQTT_PASSWORD"],
            db_dsn=exports["NEXUS_DB_DSN"],
            run_dir=run_dir,
        )
        await assert_reachable(info)

        assert await run_cli("stack", "up", "--run-dir", str(run_dir)) == 0
        again = capsys.readouterr().out
        assert "already running" in again
        assert parse_exports(again) == exports
    finally:
        assert await run_cli("stack", "down", "--run-dir", str(run_dir)) == 0
    assert "stopped" in capsys.readouterr().out
    assert not any(pid_alive(pid) for pid in pids)
    assert not (run_dir / "stack.json").exists()
    assert processes_with(str(run_dir)) == set()

    assert await run_cli("stack", "down", "--run-dir", str(run_dir)) == 0
    assert "no stack running" in capsys.readouterr().out


async def test_cli_up_restarts_a_half_dead_stack(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("stack", "up", "--run-dir", str(run_dir), "--fast") == 0
    try:
        first = parse_exports(capsys.readouterr().out)
        state = json.loads((run_dir / "stack.json").read_text())
        os.kill(state["mosquitto"]["pid"], signal.SIGKILL)
        await wait_until(lambda: not pid_alive(state["mosquitto"]["pid"]), what="mosquitto dead")
        assert await run_cli("stack", "up", "--run-dir", str(run_dir), "--fast") == 0
        second = parse_exports(capsys.readouterr().out)
        assert second["NEXUS_MQTT_PASSWORD"] != first["NEXUS_MQTT_PASSWORD"]
        assert not pid_alive(state["postgres"]["pid"])
    finally:
        assert await run_cli("stack", "down", "--run-dir", str(run_dir)) == 0
    assert processes_with(str(run_dir)) == set()
