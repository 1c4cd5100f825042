"""The interface a chaos target implements: the engine, the scenarios and the ledger are written
against it, so local processes, containers and Kubernetes run the same scenario files."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chaos.ledger import StoredRow
from chaos.scenario import Component, DeviceFaultKind, Link, NetworkSpec, Service
from simulators.faults import FaultParams


class Target(Protocol):
    """Where a scenario runs. Every method returns once the change is in effect."""

    async def start(self) -> None:
        """Start the stack, the twin fleet and the services; return when all are ready."""

    async def stop(self) -> None:
        """Stop the services, gracefully (gateways flush their ledgers), then the rest."""

    async def stop_load(self) -> None:
        """Stop the gateways (no new points); the ingest keeps draining."""

    async def kill(self, component: Component, replica: int) -> None: ...

    async def pause(self, component: Component, replica: int) -> None: ...

    async def resume(self, component: Component, replica: int) -> None: ...

    async def stop_component(self, component: Component, replica: int) -> None:
        """A graceful stop (SIGTERM and its drain)."""

    async def start_component(self, component: Component, replica: int) -> None:
        """Start a stopped or killed component again, under the same identity."""

    async def scale(self, service: Service, replicas: int) -> None: ...

    async def network_fault(self, link: Link, spec: NetworkSpec | None) -> None:
        """Apply a fault to a link (None: healthy again)."""

    async def device_fault(
        self, device: str, kind: DeviceFaultKind, on: bool, params: FaultParams | None = None
    ) -> None:
        """Switch a twin device fault on or off; `params` are the kind's parameters (None: its
        defaults). restart and session_kill happen once, when `on`: off is a no-op. A target
        that runs the fleet elsewhere posts `simulators.faults.request_body(...)` to its fault
        API (POST /faults)."""

    def replicas(self, service: Service) -> int:
        """Replicas running now."""

    def ledger_files(self) -> list[Path]:
        """The gateways' acknowledgement ledgers, one file per gateway run."""

    def published(self) -> int:
        """Points acknowledged so far (from the ledgers; cheap, called every second)."""

    async def stored_count(self) -> int | None:
        """Rows in the historian now, None when it cannot be asked."""

    async def stored_rows(self) -> list[StoredRow]:
        """Every row of the historian: (topic, ts, stored_at)."""
