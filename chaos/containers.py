"""The containers target: the local target's scenarios with the broker and the historian in
containers (testcontainers): EMQX and TimescaleDB, the images of deploy/. The gateways, the
ingest replicas, the twin fleet and the link proxies stay local processes, as on the local
target, pointed at the containers' ports.

    nexus scenario run scenarios/broker-restart.yaml --target containers
    NEXUS_SCENARIO_TARGET=containers pytest scenarios/        # or: pytest --target containers

Broker and database faults act on the containers: kill = `docker kill` (SIGKILL), stop =
`docker stop` (SIGTERM, then SIGKILL after 10 s), pause = `docker pause` (the cgroup freezer),
start = `docker start` of the same container (same data, same host port). Everything else is
the local target's.

Needs the `testcontainers` package (`pip install -e '.[containers]'`) and a reachable Docker
daemon; without them, selecting this target fails with one sentence saying which is missing
(`docker_unavailable()`), and pytest skips the scenarios with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import warnings
from pathlib import Path
from typing import Any

import asyncpg

from chaos.errors import TargetError, TargetUnavailable
from chaos.local import LocalTarget
from chaos.scenario import Component, Scenario
from nexus.stack.local import StackInfo
from nexus.stack.tools import LOOPBACK, free_port

logger = logging.getLogger(__name__)

EMQX_IMAGE = "emqx/emqx:5.8.6"  # deploy/k8s/base/emqx-statefulset.yaml
TIMESCALEDB_IMAGE = (
    "timescale/timescaledb:2.17.2-pg16"  # deploy/k8s/base/timescaledb-statefulset.yaml
)
DATABASE = "nexus_historian"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10


def docker_unavailable() -> str | None:
    """Why the containers target cannot run on this machine, or None when it can."""
    try:
        import docker
        import testcontainers  # noqa: F401
    except ImportError as exc:
        return (
            f"the containers target needs the testcontainers package ({exc.name} is not "
            "installed): pip install -e '.[containers]'"
        )
    reason: str | None = None
    # docker-py leaves the socket of a failed connection to the garbage collector: collected
    # here, its ResourceWarning is not reported against whatever runs next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=5)
            try:
                client.ping()
            finally:
                client.close()
        except Exception as exc:  # docker's errors differ by cause (no socket, no permission…)
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
            reason = f"the containers target needs a running Docker daemon it may use ({first})"
        gc.collect()
    return reason


def require_docker() -> None:
    reason = docker_unavailable()
    if reason is not None:
        raise TargetUnavailable(reason)


class ContainerService:
    """One container on a fixed loopback port of this machine, driven through Docker's API.

    The port is chosen once, so `docker start` after a kill or a stop brings it back where the
    proxies and the clients expect it. `pid` is None: LocalTarget signals no container.
    """

    pid: int | None = None

    def __init__(self, name: str, image: str, container_port: int, env: dict[str, str]) -> None:
        self.name = name
        self.image = image
        self.host = LOOPBACK
        self.port = free_port()
        self._container_port = container_port
        self._env = env
        self._container: Any = None  # testcontainers' DockerContainer once started

    def _wrapped(self) -> Any:
        if self._container is None:
            raise TargetError(f"the {self.name} container is not running")
        return self._container.get_wrapped_container()

    async def start(self) -> None:
        """Create and start the container the first time; `docker start` it afterwards."""
        if self._container is None:
            from testcontainers.core.container import DockerContainer

            container = DockerContainer(self.image)
            for key, value in self._env.items():
                container = container.with_env(key, value)
            container = container.with_bind_ports(self._container_port, self.port)
            self._container = await asyncio.to_thread(container.start)
        else:
            await asyncio.to_thread(self._wrapped().start)
        await self.wait_ready()

    async def wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_S
        while loop.time() < deadline:
            if await self.ready():
                return
            await asyncio.sleep(0.5)
        raise TargetError(
            f"the {self.name} container ({self.image}) did not answer on {self.host}:{self.port} "
            f"within {READY_TIMEOUT_S:g}s"
        )

    async def ready(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 2)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def kill(self) -> None:
        await asyncio.to_thread(self._wrapped().kill)

    async def stop(self) -> None:
        await asyncio.to_thread(self._wrapped().stop, timeout=STOP_TIMEOUT_S)

    async def pause(self) -> None:
        await asyncio.to_thread(self._wrapped().pause)

    async def resume(self) -> None:
        await asyncio.to_thread(self._wrapped().unpause)

    async def remove(self) -> None:
        """The container deleted (idempotent)."""
        container, self._container = self._container, None
        if container is not None:
            await asyncio.to_thread(container.stop)


class DatabaseContainer(ContainerService):
    def __init__(self) -> None:
        self.user = "nexus"
        self.password = secrets.token_hex(16)
        super().__init__(
            "timescaledb",
            TIMESCALEDB_IMAGE,
            5432,
            {
                "POSTGRES_USER": self.user,
                "POSTGRES_PASSWORD": self.password,
                "POSTGRES_DB": DATABASE,
                "TIMESCALEDB_TELEMETRY": "off",
            },
        )

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{DATABASE}"

    async def ready(self) -> bool:
        try:
            conn = await asyncio.wait_for(asyncpg.connect(self.dsn), 3)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        await conn.close()
        return True


class ContainerStack:
    """What LocalTarget needs of its stack (`start`, `stop`, `mosquitto`, `postgres`), with
    EMQX as the broker (anonymous MQTT, the credentials are accepted as given) and TimescaleDB
    as the historian."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.mqtt_username = "nexus"
        self.mqtt_password = secrets.token_hex(16)
        self.mosquitto = ContainerService("emqx", EMQX_IMAGE, 1883, {})
        self.postgres = DatabaseContainer()

    async def start(self) -> StackInfo:
        results = await asyncio.gather(
            self.mosquitto.start(), self.postgres.start(), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await self.stop()
            raise errors[0]
        return StackInfo(
            mqtt_host=self.mosquitto.host,
            mqtt_port=self.mosquitto.port,
            mqtt_username=self.mqtt_username,
            mqtt_password=self.mqtt_password,
            db_dsn=self.postgres.dsn,
            run_dir=self.run_dir,
        )

    async def stop(self) -> None:
        results = await asyncio.gather(
            self.mosquitto.remove(), self.postgres.remove(), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]


class ContainersTarget(LocalTarget):
    """LocalTarget with EMQX and TimescaleDB in containers; TargetUnavailable without Docker."""

    def __init__(self, scenario: Scenario, work_dir: Path) -> None:
        require_docker()
        super().__init__(scenario, work_dir)
        self.containers = ContainerStack(self._run_dir)
        self.stack = self.containers  # type: ignore[assignment]  # LocalStack's surface

    def _container(self, component: Component) -> ContainerService | None:
        if component is Component.BROKER:
            return self.containers.mosquitto
        if component is Component.DATABASE:
            return self.containers.postgres
        return None

    async def kill(self, component: Component, replica: int) -> None:
        container = self._container(component)
        if container is None:
            await super().kill(component, replica)
        else:
            await container.kill()

    async def pause(self, component: Component, replica: int) -> None:
        container = self._container(component)
        if container is None:
            await super().pause(component, replica)
        else:
            await container.pause()

    async def resume(self, component: Component, replica: int) -> None:
        container = self._container(component)
        if container is None:
            await super().resume(component, replica)
        else:
            await container.resume()

    async def stop_component(self, component: Component, replica: int) -> None:
        container = self._container(component)
        if container is None:
            await super().stop_component(component, replica)
        else:
            await container.stop()

    async def start_component(self, component: Component, replica: int) -> None:
        container = self._container(component)
        if container is None:
            await super().start_component(component, replica)
        else:
            await container.start()
