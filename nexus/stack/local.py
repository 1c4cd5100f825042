"""The local stack: one Mosquitto and one PostgreSQL in one run directory.

Developers, tests and chaos runs all get the same two services, configured the same way,
on free loopback ports, with fresh random credentials; what other components need to reach
them is a `StackInfo`, which also renders as NEXUS_* environment variables.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from nexus.stack.mosquitto import Mosquitto
from nexus.stack.postgres import Postgres

logger = logging.getLogger(__name__)

DEFAULT_RUN_DIR = Path(".run") / "stack"


@dataclass(frozen=True)
class StackInfo:
    """How to reach a running stack (passwords are kept out of repr, hence out of logs)."""

    mqtt_host: str
    mqtt_port: int
    mqtt_username: str
    mqtt_password: str = field(repr=False)
    db_dsn: str = field(repr=False)
    run_dir: Path

    def to_env(self) -> dict[str, str]:
        """The NEXUS_* variables the services read their connection settings from."""
        return {
            "NEXUS_MQTT_HOST": self.mqtt_host,
            "NEXUS_MQTT_PORT": str(self.mqtt_port),
            "NEXUS_MQTT_USERNAME": self.mqtt_username,
            "NEXUS_MQTT_PASSWORD": self.mqtt_password,
            "NEXUS_DB_DSN": self.db_dsn,
        }


class LocalStack:
    """Mosquitto in RUN_DIR/mosquitto and PostgreSQL in RUN_DIR/postgres.

    `async with LocalStack(path) as info:` starts both concurrently and stops both on exit,
    whatever the exit (exception, cancellation, Ctrl-C). If one service fails to start, the
    other is stopped before the StackError propagates. `detached=True` is for
    `nexus stack up`: the services outlive this process and are stopped by pid later.
    """

    def __init__(
        self,
        run_dir: Path | str | None = None,
        *,
        fast: bool = False,
        detached: bool = False,
        mqtt_port: int | None = None,
        db_port: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir if run_dir is not None else DEFAULT_RUN_DIR).resolve()
        self.mosquitto = Mosquitto(
            self.run_dir / "mosquitto",
            port=mqtt_port,
            detached=detached,
            stack_root=self.run_dir,
        )
        self.postgres = Postgres(
            self.run_dir / "postgres",
            port=db_port,
            fast=fast,
            detached=detached,
            stack_root=self.run_dir,
        )

    @property
    def info(self) -> StackInfo:
        return StackInfo(
            mqtt_host=self.mosquitto.host,
            mqtt_port=self.mosquitto.port,
            mqtt_username=self.mosquitto.username,
            mqtt_password=self.mosquitto.password,
            db_dsn=self.postgres.dsn,
            run_dir=self.run_dir,
        )

    async def __aenter__(self) -> StackInfo:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> StackInfo:
        """Start both services concurrently; on any failure, none is left running."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            results = await asyncio.gather(
                self.mosquitto.start(), self.postgres.start(), return_exceptions=True
            )
        except BaseException:  # cancelled: one service may already be up
            await self.stop()
            raise
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]
        logger.info("stack ready in %s", self.run_dir)
        return self.info

    async def stop(self) -> None:
        """Stop both services concurrently (each waits, then kills, so this always ends)."""
        results = await asyncio.gather(
            self.mosquitto.stop(), self.postgres.stop(), return_exceptions=True
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            raise errors[0]
