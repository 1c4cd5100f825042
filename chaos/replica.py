"""One replica of a service (`nexus gateway run`, `nexus ingest run`) as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

import aiohttp

from nexus.errors import StackError
from nexus.stack.process import die_with_parent  # the stack's no-orphan guard
from nexus.stack.tools import free_port, log_tail

logger = logging.getLogger(__name__)

STOP_GRACE_S = 30.0


class Replica:
    """`nexus <service> run ARGS` with `env`; started, signalled and stopped by pid only."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], *, log_dir: Path, cwd: Path
    ) -> None:
        self.name = name
        self.http_port = free_port()
        self._args = args
        self._env = env
        self._log = log_dir / f"{name}.log"
        self._cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, extra_env: dict[str, str] | None = None) -> None:
        argv = [sys.executable, "-m", "nexus.cli.main", *self._args]
        argv += ["--http-port", str(self.http_port)]
        env = {**os.environ, **self._env, **(extra_env or {})}
        with self._log.open("ab") as log:
            # Own session (a terminal's Ctrl-C reaches the runner, which stops us in order);
            # SIGKILL from the kernel if the runner dies, so nothing is left behind.
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self._cwd,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        self.starts += 1
        logger.info("started %s (pid %d)", self.name, self.process.pid)

    async def wait_ready(self, within_s: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        url = f"http://127.0.0.1:{self.http_port}/ready"
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while loop.time() < deadline:
                if not self.running():
                    raise StackError(f"{self.name} exited during start:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise StackError(f"{self.name} not ready within {within_s:.0f}s:\n{self.log_tail()}")

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the replica's process group (it runs in a session of its own)."""
        if self.process is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    async def _wait(self, seconds: float) -> bool:
        if self.process is None:
            return True
        try:
            await asyncio.wait_for(self.process.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        await self._wait(10)

    async def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM (the service drains), SIGKILL after `grace` seconds."""
        if not self.running():
            return
        self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        self.signal(signal.SIGTERM)
        try:
            stopped = await self._wait(grace)
        except asyncio.CancelledError:  # never leave it running
            self.signal(signal.SIGKILL)
            raise
        if not stopped:
            logger.warning("%s still runs %.0fs after SIGTERM; killing it", self.name, grace)
            await self.kill()

    def log_tail(self) -> str:
        return log_tail(self._log)
