"""`make demo`: a simulated plant → gateway → Mosquitto → ingest → PostgreSQL, with a live view.

Everything runs on the local stack; at the end the ledger compares what the broker acknowledged
to the gateway (by topic and sequence number) with the rows in the historian.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import asyncpg

from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.ingest.service import Ingest
from nexus.model.payload import PointPayload
from nexus.settings import MqttSettings
from nexus.stack.local import LocalStack, StackInfo
from nexus.stack.tools import free_port_range
from simulators.fleet import Fleet
from simulators.plant import Plant, load_plant

log = logging.getLogger(__name__)

DEFAULT_PLANT = Path(__file__).resolve().parent.parent / "scenarios" / "plants" / "demo.yaml"


@dataclass(frozen=True, slots=True)
class DemoSummary:
    devices: int
    tags: int
    duration_s: float
    points_published: int
    points_stored: int
    lost: int
    duplicates: int
    dead_letters: int
    database: str

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Ledger:
    """Every point the broker acknowledged to the gateway, by topic and sequence number."""

    def __init__(self) -> None:
        self.acked: dict[str, set[int]] = defaultdict(set)
        self.count = 0

    def on_acked(self, topic: str, payload: PointPayload) -> None:
        self.acked[topic].add(payload.seq)
        self.count += 1

    async def check(self, conn: asyncpg.Connection) -> tuple[int, int, int]:
        """(stored rows, lost, duplicates) against the historian."""
        rows = await conn.fetch("SELECT topic, seq, count(*) AS n FROM metrics GROUP BY topic, seq")
        stored: dict[str, set[int]] = defaultdict(set)
        total = duplicates = 0
        for row in rows:
            stored[row["topic"]].add(row["seq"])
            total += row["n"]
            duplicates += row["n"] - 1
        lost = sum(len(seqs - stored.get(topic, set())) for topic, seqs in self.acked.items())
        return total, lost, duplicates


async def run_demo(
    *,
    plant_path: Path,
    duration_s: float,
    run_dir: Path,
    out: TextIO,
    live: bool,
) -> DemoSummary:
    plant = load_plant(plant_path)
    async with LocalStack(run_dir=run_dir) as stack:
        return await _run_on_stack(plant, stack, duration_s, out, live)


async def _run_on_stack(
    plant: Plant, stack: StackInfo, duration_s: float, out: TextIO, live: bool
) -> DemoSummary:
    conn = await asyncpg.connect(stack.db_dsn)
    try:
        # A demo shows one run: start from an empty historian.
        await conn.execute(
            "DROP TABLE IF EXISTS metrics CASCADE; DROP TABLE IF EXISTS dead_letters"
        )
    finally:
        await conn.close()
    ledger = Ledger()
    plant = plant.with_base_port(free_port_range(plant.device_count))
    devices = plant.gateway_config()
    config = GatewayConfig(devices=devices)
    base = MqttSettings(
        host=stack.mqtt_host,
        port=stack.mqtt_port,
        username=stack.mqtt_username,
        password=stack.mqtt_password,
    )
    async with Fleet(plant):
        async with Ingest(
            mqtt=base.model_copy(update={"client_id": "demo-ingest"}),
            db_dsn=stack.db_dsn,
            http_port=None,
        ) as ingest:
            gateway = Gateway(
                config,
                mqtt=base.model_copy(update={"client_id": "demo-gateway"}),
                gateway_id="demo-gateway",
                http_port=None,
                on_acked=ledger.on_acked,
            )
            async with gateway:
                await _live_view(gateway, ingest, ledger, duration_s, out, live)
            # The gateway has stopped and drained; wait until the ingest has stored it all.
            deadline = time.monotonic() + 30
            while ingest.points_stored + ingest.dead_lettered < ledger.count:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        conn = await asyncpg.connect(stack.db_dsn)
        try:
            stored, lost, duplicates = await ledger.check(conn)
            dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
        finally:
            await conn.close()
    return DemoSummary(
        devices=len(devices),
        tags=sum(len(d.tags) for d in devices),
        duration_s=duration_s,
        points_published=ledger.count,
        points_stored=stored,
        lost=lost,
        duplicates=duplicates,
        dead_letters=int(dead),
        database=stack.db_dsn.split("@")[-1],
    )


async def _live_view(
    gateway: Gateway, ingest: Ingest, ledger: Ledger, duration_s: float, out: TextIO, live: bool
) -> None:
    """One status line a second on a terminal (redrawn), every 5 s otherwise."""
    started = time.monotonic()
    every = 1.0 if live else 5.0
    last = (started, 0, 0, 0)
    while (elapsed := time.monotonic() - started) < duration_s:
        await asyncio.sleep(min(every, duration_s - elapsed))
        now = time.monotonic()
        polled = sum(s.points for s in gateway.statuses)
        published, stored = ledger.count, ingest.points_stored
        dt = max(now - last[0], 1e-6)
        up = sum(s.up for s in gateway.statuses)
        line = (
            f"[{now - started:5.0f}s/{duration_s:.0f}s] devices up {up}/{len(gateway.statuses)}"
            f" | polled {(polled - last[1]) / dt:7.0f} pts/s"
            f" | published {(published - last[2]) / dt:7.0f}"
            f" pts/s | stored {(stored - last[3]) / dt:7.0f} pts/s | total stored {stored}"
        )
        out.write(("\r" + line) if live else (line + "\n"))
        out.flush()
        last = (now, polled, published, stored)
    if live:
        out.write("\n")


def print_summary(summary: DemoSummary, out: TextIO = sys.stdout) -> None:
    verdict = "OK" if summary.ok else "DATA LOST OR DUPLICATED"
    out.write(
        f"\nNEXUS Edge demo: {verdict}\n"
        f"  devices            {summary.devices}\n"
        f"  tags               {summary.tags}\n"
        f"  points published   {summary.points_published}  (acknowledged by the broker)\n"
        f"  points stored      {summary.points_stored}\n"
        f"  lost               {summary.lost}\n"
        f"  duplicates         {summary.duplicates}\n"
        f"  dead letters       {summary.dead_letters}\n"
    )
