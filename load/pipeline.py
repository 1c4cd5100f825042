"""The pipeline a load run targets: a broker and a historian, and an ingest consuming.

``Pipeline`` is an async context manager. ``own=True`` starts a private LocalStack (Mosquitto +
PostgreSQL on free loopback ports, removed afterwards); ``own=False`` uses the NEXUS_* variables
of the environment (``nexus stack up``, or a test session's stack). Unless ``ingest=False`` it
runs ``nexus ingest run`` as a child process, as in production, with a client id and a
shared-subscription group of its own, and waits until it is ready.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal
import sys
import urllib.request
from pathlib import Path

import asyncpg

from load.target import Targets, targets_from_env
from nexus.ingest.schema import ensure_schema
from nexus.lifecycle import AsyncService
from nexus.stack.local import LocalStack
from nexus.stack.tools import free_port, temp_run_dir

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class PipelineError(Exception):
    """The stack or the ingest did not come up."""


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Pipeline(AsyncService):
    def __init__(
        self,
        *,
        own: bool,
        ingest: bool = True,
        log_dir: Path,
        ingest_args: tuple[str, ...] = (),
    ) -> None:
        self.own = own
        self.with_ingest = ingest
        self.log_dir = log_dir
        self.ingest_args = ingest_args
        self.run_id = secrets.token_hex(3)
        self.env: dict[str, str] = {}
        self.targets: Targets | None = None
        self._stack: LocalStack | None = None
        self._run_dir: Path | None = None
        self._ingest: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        if self.own:
            self._run_dir = temp_run_dir(prefix="nexus-load-")
            self._stack = LocalStack(run_dir=self._run_dir, fast=True)
            info = await self._stack.start()
            self.env = info.to_env()
        else:
            self.env = {k: v for k, v in os.environ.items() if k.startswith("NEXUS_")}
        self.targets = targets_from_env(self.env)  # loopback only
        if self.targets.db_dsn is not None:
            await self._ensure_schema(self.targets.db_dsn)
        if self.with_ingest:
            await self._start_ingest()

    @staticmethod
    async def _ensure_schema(dsn: str) -> None:
        """The historian's tables exist before any load (the ledger queries them even when no
        ingest runs); the ingest would create the same schema on its start."""
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            await ensure_schema(conn)
        finally:
            await conn.close()

    async def _start_ingest(self) -> None:
        port = free_port()
        env = {
            **os.environ,
            **self.env,
            "NEXUS_MQTT_CLIENT_ID": f"load-ingest-{self.run_id}",
            "NEXUS_INGEST_GROUP": f"load{self.run_id}",
        }
        argv = [sys.executable, "-m", "nexus.cli.main", "ingest", "run"]
        argv += ["--http-port", str(port), *self.ingest_args]
        log_path = self.log_dir / "ingest.log"
        with log_path.open("ab") as out:
            self._ingest = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while not await asyncio.to_thread(_ready, port):
            if self._ingest.returncode is not None or loop.time() > deadline:
                raise PipelineError(f"the ingest did not become ready; see {log_path}")
            await asyncio.sleep(0.1)
        log.info("ingest ready (pid %d, log %s)", self._ingest.pid, log_path)

    async def stop(self) -> None:
        ingest, self._ingest = self._ingest, None
        if ingest is not None and ingest.returncode is None:
            ingest.send_signal(signal.SIGTERM)  # drains, commits, acknowledges
            try:
                await asyncio.wait_for(ingest.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                ingest.kill()
                await ingest.wait()
        stack, self._stack = self._stack, None
        if stack is not None:
            try:
                await stack.stop()
            except Exception:  # report, and still remove the run directory
                log.exception("stopping the local stack failed")
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
