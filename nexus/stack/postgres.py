"""A private PostgreSQL server on a loopback port, for development, tests and chaos runs.

Its data directory lives in the run directory and survives `stop()`: chaos tests stop the
database for a while and `start()` it again on the same port, and the historian's data must
still be there. The superuser's password is kept next to the data (mode 0600) so a later
process can start the same data directory again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import signal
import time
from pathlib import Path
from urllib.parse import quote

import asyncpg

from nexus.errors import StackError
from nexus.lifecycle import AsyncService
from nexus.stack.process import KILL_WAIT_SECONDS, ServiceProcess, spawn
from nexus.stack.tools import (
    LOOPBACK,
    ServiceUser,
    chown_tree,
    find_postgres_bindir,
    free_port,
    log_tail,
    make_service_dir,
    service_user,
    write_private,
)

logger = logging.getLogger(__name__)

DEFAULT_USER = "nexus"
DEFAULT_DATABASE = "nexus"
INITDB_TIMEOUT_SECONDS = 120.0
# Longest Unix socket path the kernel accepts (sun_path is 108 bytes, NUL included).
_MAX_SOCKET_PATH = 107
# Errors meaning "not accepting connections yet": retry until the deadline.
_NOT_READY_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
)
# Settings trading durability for speed: tests only, never data you want to keep.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def quote_ident(name: str) -> str:
    """An SQL identifier in double quotes (CREATE DATABASE cannot take a parameter)."""
    return '"' + name.replace('"', '""') + '"'


class Postgres(AsyncService):
    """A PostgreSQL server in `run_dir`, as an async context manager (`async with`).

    The first `start()` runs initdb; `start()` returns once the stack's user can log in and
    run a query, with database `database` created. `stop()` (or leaving the `async with`)
    requests a fast shutdown (SIGINT: roll back open transactions, checkpoint) and sends
    SIGKILL after `stop_timeout`. `fast=True` turns fsync off, for tests.

    As root the service runs as an unprivileged user, who must be able to reach `run_dir`:
    directories up to `stack_root` (default: `run_dir` itself) are ours and get o+x where
    needed; a locked directory above it is a StackError (see tools.temp_run_dir for tests).
    `detached=True` starts a service that outlives this process (`nexus stack up`).
    """

    def __init__(
        self,
        run_dir: Path | str,
        *,
        port: int | None = None,
        user: str = DEFAULT_USER,
        database: str = DEFAULT_DATABASE,
        fast: bool = False,
        detached: bool = False,
        start_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        stack_root: Path | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self._stack_root = stack_root.resolve() if stack_root is not None else self.run_dir
        self._port = port if port is not None else free_port()
        self._user = user
        self._database = database
        self.fast = fast
        self.detached = detached
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._password = self._saved_password() or secrets.token_urlsafe(24)
        self._process: ServiceProcess | None = None

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def port(self) -> int:
        return self._port

    @property
    def user(self) -> str:
        return self._user

    @property
    def password(self) -> str:
        return self._password

    @property
    def database(self) -> str:
        return self._database

    @property
    def dsn(self) -> str:
        """postgresql://user:password@127.0.0.1:port/database (contains the password)."""
        user, password = quote(self._user, safe=""), quote(self._password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{self._database}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "postgres.log"

    @property
    def password_path(self) -> Path:
        return self.run_dir / "password"

    def running(self) -> bool:
        return self._process is not None and self._process.running()

    def _saved_password(self) -> str | None:
        if not self._initialized():
            return None
        try:
            return self.password_path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            raise StackError(
                f"{self.data_dir} exists but its password file {self.password_path} is gone; "
                f"remove {self.run_dir} to start from scratch"
            ) from None

    def _initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def _make_socket_dir(self, user: ServiceUser | None) -> str:
        """Where the Unix socket goes: in the run dir, or nowhere if that path is too long.

        Clients of the stack use TCP; the socket is a convenience for `psql -h DIR`.
        """
        sock = self.run_dir / "sock"
        if len(str(sock / f".s.PGSQL.{self._port}.lock")) > _MAX_SOCKET_PATH:
            return ""
        sock.mkdir(mode=0o700, exist_ok=True)
        chown_tree(sock, user)
        return str(sock)

    async def _initdb(self, bindir: Path, user: ServiceUser | None) -> None:
        """Create the data directory, superuser `user` with our password, scram-sha-256 only."""
        if self.data_dir.exists():  # left over from an initdb that did not finish
            shutil.rmtree(self.data_dir)
        pwfile = self.run_dir / "initdb.pw"
        write_private(pwfile, self._password + "\n", user)
        argv = [
            str(bindir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            self._user,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        ]
        if self.fast:
            argv.append("--no-sync")
        log = self.run_dir / "initdb.log"
        try:
            process = await spawn("initdb", argv, log_path=log, cwd=self.run_dir, user=user)
            try:
                finished = await process.wait(INITDB_TIMEOUT_SECONDS)
            except BaseException:
                process.send(signal.SIGKILL)
                raise
            if not finished:
                await process.stop(signal.SIGTERM, KILL_WAIT_SECONDS)
                raise StackError(f"initdb took over {INITDB_TIMEOUT_SECONDS:.0f}s")
            if process.returncode != 0:
                raise StackError(f"initdb failed with code {process.returncode}\n{log_tail(log)}")
        finally:
            pwfile.unlink(missing_ok=True)
        write_private(self.password_path, self._password + "\n", user)
        logger.info("initialized postgres data directory %s", self.data_dir)

    async def start(self) -> None:
        """Start the server (after initdb on first use) and wait until it answers queries."""
        if self.running():
            return
        bindir = find_postgres_bindir()
        user = service_user("postgres")
        make_service_dir(self.run_dir, user, stack_root=self._stack_root)
        if not self._initialized():
            await self._initdb(bindir, user)
        socket_dir = self._make_socket_dir(user)
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self._port),
            "-h",
            LOOPBACK,
            "-k",
            socket_dir,
        ]
        settings = FAST_SETTINGS if self.fast else {}
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        began = time.monotonic()
        process = await spawn(
            "postgres",
            argv,
            log_path=self.log_path,
            cwd=self.run_dir,
            user=user,
            detached=self.detached,
            marker=str(self.data_dir),
        )
        logger.info("started postgres on %s:%d (pid %d)", self.host, self.port, process.pid)
        try:
            await self._wait_ready(process)
        except BaseException:
            process.send(signal.SIGKILL)
            with contextlib.suppress(asyncio.CancelledError):
                await process.wait(KILL_WAIT_SECONDS)
            raise
        self._process = process
        logger.info("postgres ready on port %d in %.2fs", self.port, time.monotonic() - began)

    def _failure(self, message: str) -> StackError:
        return StackError(f"{message}\n{log_tail(self.log_path)}")

    async def _wait_ready(self, process: ServiceProcess) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.01
        # A starting server refuses or answers at once; only a foreign listener on our port
        # keeps quiet, so the first attempts give up quickly to notice our process died.
        attempt_timeout = 0.25
        while True:
            if not process.running():
                code = process.returncode
                status = f" with code {code}" if code is not None else ""
                raise self._failure(f"postgres exited{status} during start on port {self.port}")
            remaining = deadline - time.monotonic()
            try:
                conn = await asyncpg.connect(
                    host=self.host,
                    port=self._port,
                    user=self._user,
                    password=self._password,
                    database="postgres",
                    timeout=max(0.05, min(attempt_timeout, remaining)),
                )
                try:
                    async with asyncio.timeout(max(10.0, remaining)):
                        await self._ensure_database(conn)
                finally:
                    await conn.close(timeout=KILL_WAIT_SECONDS)
                return
            except _NOT_READY_ERRORS:
                pass
            except asyncpg.PostgresError as exc:
                raise self._failure(
                    f"postgres on port {self.port} refused the stack: {exc}"
                ) from exc
            if time.monotonic() >= deadline:
                raise self._failure(
                    f"postgres did not answer on port {self.port} within {self.start_timeout:.0f}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
            attempt_timeout = min(attempt_timeout * 2, 2.0)

    async def _ensure_database(self, conn: asyncpg.Connection) -> None:
        """Prove the server answers a query, and create our database if missing."""
        await conn.fetchval("SELECT 1")
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self._database)
        if exists is None:
            await conn.execute(
                f"CREATE DATABASE {quote_ident(self._database)} OWNER {quote_ident(self._user)}"
            )
            logger.info("created database %s", self._database)

    async def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after stop_timeout. The data stays."""
        process = self._process
        if process is None:
            return
        await process.stop(signal.SIGINT, self.stop_timeout)
        self._process = None
        logger.info("stopped postgres (pid %d)", process.pid)
