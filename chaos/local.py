"""The local target: the stack, the twin fleet and every service replica as processes on this
machine, each network link through a fault-injecting proxy.

    simulated devices (in this process) ─▶ gateway-i ─[gateway-broker]─▶ Mosquitto
    Mosquitto ─[ingest-broker]─▶ ingest-i ─[ingest-database]─▶ PostgreSQL

Gateway replicas do not share the fleet yet (fleet sharding is a separate issue): each replica
polls its own subset of the devices (round robin), from its own device file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from pathlib import Path

import asyncpg

from chaos.ledger import LedgerCounter, StoredRow, fetch_stored_rows
from chaos.proxy import LinkProxy
from chaos.replica import Replica
from chaos.scenario import Component, DeviceFaultKind, Link, NetworkSpec, Scenario, Service
from nexus.errors import StackError
from nexus.lifecycle import AsyncService
from nexus.stack.local import LocalStack
from nexus.stack.mosquitto import Mosquitto
from nexus.stack.postgres import Postgres
from nexus.stack.tools import LOOPBACK, temp_run_dir
from simulators.faults import ONE_OFF, FaultParams, FaultSpec
from simulators.fleet import Fleet
from simulators.plant import gateway_yaml, load_plant

logger = logging.getLogger(__name__)

INGEST_FLUSH_INTERVAL_S = "0.2"


class LocalTarget(AsyncService):
    """Runs `scenario` on this machine; `work_dir` receives the ledgers and the service logs."""

    def __init__(self, scenario: Scenario, work_dir: Path) -> None:
        self.scenario = scenario
        self.work_dir = work_dir.resolve()
        self._run_dir = temp_run_dir(prefix="nexus-scenario-")
        self.stack = LocalStack(run_dir=self._run_dir, fast=True)
        self.proxies: dict[Link, LinkProxy] = {}
        self.fleet: Fleet | None = None
        self.gateways: list[Replica] = []
        self.ingests: list[Replica] = []
        self._ledgers: list[Path] = []
        self._counter = LedgerCounter()
        self._db: asyncpg.Connection | None = None

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        for folder in ("ledger", "logs", "config"):
            (self.work_dir / folder).mkdir(parents=True, exist_ok=True)
        info = await self.stack.start()
        broker, db = self.stack.mosquitto, self.stack.postgres
        for link, port in (
            (Link.GATEWAY_BROKER, broker.port),
            (Link.INGEST_BROKER, broker.port),
            (Link.INGEST_DATABASE, db.port),
        ):
            self.proxies[link] = LinkProxy(link.value, LOOPBACK, port)
            await self.proxies[link].start()
        plant = load_plant(self.scenario.plant_path).with_base_port(0)
        self.fleet = Fleet(plant)
        await self.fleet.start()

        base_env = {**info.to_env()}
        ingest_env = {
            **base_env,
            "NEXUS_MQTT_PORT": str(self.proxies[Link.INGEST_BROKER].port),
            "NEXUS_DB_DSN": info.db_dsn.replace(
                f"@{db.host}:{db.port}/", f"@{LOOPBACK}:{self.proxies[Link.INGEST_DATABASE].port}/"
            ),
        }
        self._ingest_env = ingest_env
        await self.scale(Service.INGEST, self.scenario.services.ingest.replicas)

        gateway_env = {**base_env, "NEXUS_MQTT_PORT": str(self.proxies[Link.GATEWAY_BROKER].port)}
        self._gateway_env = gateway_env
        count = self.scenario.services.gateway.replicas
        devices = self.fleet.gateway_config()
        poll = self.scenario.load.poll_interval_ms
        if poll is not None:
            devices = [d.model_copy(update={"poll_interval_ms": poll}) for d in devices]
        for i in range(count):
            mine = devices[i::count]
            if not mine:
                raise StackError(f"gateway-{i} would have no device: more replicas than devices")
            config = self.work_dir / "config" / f"gateway-{i}.yaml"
            config.write_text(gateway_yaml(mine), encoding="utf-8")
            name = f"gateway-{i}"
            env = {**gateway_env, "NEXUS_GATEWAY_ID": name, "NEXUS_MQTT_CLIENT_ID": name}
            env["NEXUS_API_PORT"] = "0"  # the device API: any free port
            args = ["gateway", "run", "--config", str(config)]
            args += ["--publish-mode", self.scenario.load.publish_mode]
            self.gateways.append(self._replica(name, args, env))
        for gateway in self.gateways:
            await self._start_gateway(gateway)
        await asyncio.gather(*(g.wait_ready() for g in self.gateways))

    def _replica(self, name: str, args: list[str], env: dict[str, str]) -> Replica:
        return Replica(name, args, env, log_dir=self.work_dir / "logs", cwd=self.work_dir)

    async def _start_gateway(self, gateway: Replica) -> None:
        ledger = self.work_dir / "ledger" / f"{gateway.name}.run{gateway.starts + 1}.jsonl"
        self._ledgers.append(ledger)
        await gateway.start({"NEXUS_GATEWAY_LEDGER": str(ledger)})

    async def stop_load(self) -> None:
        await asyncio.gather(*(g.stop() for g in self.gateways))

    async def stop(self) -> None:
        """Everything this target started, in order; each step runs whatever the others do."""
        steps = [
            self.stop_load(),
            self._stop_all(self.ingests),
            self._close_db(),
            self._stop_proxies(),
            self.fleet.stop() if self.fleet is not None else None,
            self.stack.stop(),
        ]
        errors: list[BaseException] = []
        for step in steps:
            if step is None:
                continue
            try:
                await step
            except Exception as exc:  # keep stopping the rest
                logger.exception("stopping the local target")
                errors.append(exc)
        shutil.rmtree(self._run_dir, ignore_errors=True)
        if errors:
            raise errors[0]

    async def _stop_all(self, replicas: list[Replica]) -> None:
        await asyncio.gather(*(r.stop() for r in replicas))

    async def _stop_proxies(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.proxies.values()))

    async def _close_db(self) -> None:
        if self._db is not None:
            conn, self._db = self._db, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    # -- faults ------------------------------------------------------------------------------

    def _replicas_of(self, component: Component) -> list[Replica]:
        return self.gateways if component is Component.GATEWAY else self.ingests

    def _replica_at(self, component: Component, replica: int) -> Replica:
        replicas = self._replicas_of(component)
        if replica >= len(replicas):
            raise StackError(f"{component.value}-{replica} does not exist")
        return replicas[replica]

    def _stack_pid(self, component: Component) -> int | None:
        service = self.stack.mosquitto if component is Component.BROKER else self.stack.postgres
        return service.pid

    def _signal_stack(self, component: Component, sig: signal.Signals) -> None:
        pid = self._stack_pid(component)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)  # the whole group: PostgreSQL's backends too

    async def kill(self, component: Component, replica: int) -> None:
        if component in (Component.BROKER, Component.DATABASE):
            self._signal_stack(component, signal.SIGKILL)
            await self._stack_service(component).stop()  # reaps it; nothing left to stop
        else:
            await self._replica_at(component, replica).kill()

    async def pause(self, component: Component, replica: int) -> None:
        if component in (Component.BROKER, Component.DATABASE):
            self._signal_stack(component, signal.SIGSTOP)
        else:
            self._replica_at(component, replica).signal(signal.SIGSTOP)

    async def resume(self, component: Component, replica: int) -> None:
        if component in (Component.BROKER, Component.DATABASE):
            self._signal_stack(component, signal.SIGCONT)
        else:
            self._replica_at(component, replica).signal(signal.SIGCONT)

    def _stack_service(self, component: Component) -> Mosquitto | Postgres:
        return self.stack.mosquitto if component is Component.BROKER else self.stack.postgres

    async def stop_component(self, component: Component, replica: int) -> None:
        if component in (Component.BROKER, Component.DATABASE):
            await self._stack_service(component).stop()
        else:
            await self._replica_at(component, replica).stop()

    async def start_component(self, component: Component, replica: int) -> None:
        if component in (Component.BROKER, Component.DATABASE):
            await self._stack_service(component).start()
            return
        target = self._replica_at(component, replica)
        if target.running():
            return
        if component is Component.GATEWAY:
            await self._start_gateway(target)
        else:
            await target.start()
        await target.wait_ready()

    async def scale(self, service: Service, replicas: int) -> None:
        if service is Service.GATEWAY:
            raise StackError("gateway replicas cannot be scaled before fleet sharding exists")
        while len(self.ingests) < replicas:
            i = len(self.ingests)
            name = f"ingest-{i}"  # stable per index: its persistent session comes back
            args = ["ingest", "run", "--flush-interval", INGEST_FLUSH_INTERVAL_S]
            self.ingests.append(
                self._replica(name, args, {**self._ingest_env, "NEXUS_MQTT_CLIENT_ID": name})
            )
        starting = [r for r in self.ingests[:replicas] if not r.running()]
        for replica in starting:
            await replica.start()
        await asyncio.gather(*(r.wait_ready() for r in starting))
        await self._stop_all([r for r in self.ingests[replicas:] if r.running()])

    async def network_fault(self, link: Link, spec: NetworkSpec | None) -> None:
        self.proxies[link].set_fault(spec)

    async def device_fault(
        self, device: str, kind: DeviceFaultKind, on: bool, params: FaultParams | None = None
    ) -> None:
        """The fleet runs in this process: its Python API, logged as source "scenario"."""
        assert self.fleet is not None
        if kind.value in ONE_OFF and not on:
            return
        given = params.given() if params is not None else {}
        spec = (
            FaultSpec.model_validate({"kind": kind.value, **given})
            if on
            else FaultSpec.model_construct(kind=kind.value)
        )
        await self.fleet.apply_fault(device, spec, on, source="scenario")

    # -- observation -------------------------------------------------------------------------

    def replicas(self, service: Service) -> int:
        replicas = self.gateways if service is Service.GATEWAY else self.ingests
        return sum(1 for r in replicas if r.running())

    def ledger_files(self) -> list[Path]:
        return list(self._ledgers)

    def published(self) -> int:
        return self._counter.update(self._ledgers)

    async def _conn(self) -> asyncpg.Connection:
        if self._db is None or self._db.is_closed():
            self._db = await asyncio.wait_for(asyncpg.connect(self.stack.postgres.dsn), 2)
        return self._db

    async def stored_count(self) -> int | None:
        try:
            conn = await self._conn()
            return int(await asyncio.wait_for(conn.fetchval("SELECT count(*) FROM metrics"), 2))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._close_db()
            return None

    async def stored_rows(self) -> list[StoredRow]:
        return await fetch_stored_rows(await self._conn())
