"""`make bench-ingest`: points/s through broker and ingest into PostgreSQL, against raw COPY.

The same rows are written twice in one run, each time into an empty ``metrics`` table with the
same unique index:

- **baseline**: asyncpg COPY of the already-built rows, 5,000 per transaction (the ingest's
  batch size) — what PostgreSQL itself sustains here;
- **pipeline**: the rows as batch messages published QoS 1 to Mosquitto, consumed by
  ``nexus ingest run`` in its own process (shared subscription, decode, COPY, commit, then
  acknowledge), from the first publish until the last point is committed.

Prints progress, then one JSON object on the last line:
``points_per_s``, ``copy_baseline_per_s``, ``ratio``, ``lost``, ``duplicates``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import time
import urllib.request

import asyncpg

from nexus.ingest.decode import Row, decode_message
from nexus.ingest.schema import METRICS_COLUMNS, ensure_schema
from nexus.model.payload import PointPayload, encode_batch
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.stack.local import LocalStack, StackInfo
from nexus.stack.tools import free_port, temp_run_dir

BATCH_ROWS = 5000


def build_messages(points: int, per_message: int, devices: int) -> list[tuple[str, bytes]]:
    """Batch messages with unique (tag topic, time) points, as gateways would send them."""
    tags = [f"tag{j:03d}" for j in range(per_message)]
    base_ts = int(time.time() * 1000) - 86_400_000
    messages = []
    for i in range(points // per_message):
        ts = base_ts + i
        device = f"dev/bench/line{i % 4}/plc{i % devices:04d}"
        batch = [
            PointPayload(v=float(i % 1000) + j / 8, ts=ts, u="bar", seq=i, gw="bench")
            for j in range(per_message)
        ]
        messages.append((device, encode_batch("bench", ts, batch, tags)))
    return messages


async def reset_table(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS metrics CASCADE")
        await ensure_schema(conn)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def copy_baseline(dsn: str, rows: list[Row]) -> float:
    await reset_table(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH_ROWS):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "metrics", records=rows[i : i + BATCH_ROWS], columns=METRICS_COLUMNS
                )
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM metrics")
    finally:
        await conn.close()
    assert stored == len(rows), f"baseline stored {stored} of {len(rows)}"
    return len(rows) / elapsed


def is_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def ingest_stored(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("nexus_ingest_points_stored_total "):
                    return int(float(line.split()[1]))
    except OSError:
        pass
    return 0


async def pipeline(stack: StackInfo, messages: list[tuple[str, bytes]], total: int) -> float:
    await reset_table(stack.db_dsn)
    port = free_port()
    env = {**os.environ, **stack.to_env(), "NEXUS_MQTT_CLIENT_ID": "bench-ingest"}
    log = (stack.run_dir / "ingest.log").open("wb")
    ingest = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "nexus.cli.main", "ingest", "run", "--http-port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        while not await asyncio.to_thread(is_ready, port):
            if ingest.returncode is not None:
                raise RuntimeError(f"ingest exited; see {stack.run_dir / 'ingest.log'}")
            await asyncio.sleep(0.1)
        settings = MqttSettings(
            host=stack.mqtt_host,
            port=stack.mqtt_port,
            username=stack.mqtt_username,
            password=stack.mqtt_password,
            client_id="bench-publisher",
            max_inflight=2000,
        )
        async with MqttClient(settings) as mqtt:
            started = time.perf_counter()
            futures = [await mqtt.publish_nowait(topic, body) for topic, body in messages]
            published = time.perf_counter() - started
            await asyncio.gather(*futures)
            print(f"  published {len(messages):,} messages in {published:.2f} s", file=sys.stderr)
            last_report = started
            while (stored := await asyncio.to_thread(ingest_stored, port)) < total:
                now = time.perf_counter()
                if now - last_report >= 1:
                    print(f"  stored {stored:,} of {total:,} points", file=sys.stderr)
                    last_report = now
                if now - started > 300:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
    finally:
        ingest.terminate()
        await asyncio.wait_for(ingest.wait(), 30)
        log.close()
    return total / elapsed


async def count_rows(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = int(await conn.fetchval("SELECT count(*) FROM metrics"))
        distinct = int(
            await conn.fetchval("SELECT count(*) FROM (SELECT DISTINCT topic, time FROM metrics) d")
        )
    finally:
        await conn.close()
    return rows, distinct


async def run(points: int, per_message: int, devices: int) -> dict[str, object]:
    messages = build_messages(points, per_message, devices)
    total = len(messages) * per_message
    rows = [row for topic, body in messages for row in decode_message(topic, body)]
    run_dir = temp_run_dir(prefix="nexus-bench-ingest-")
    try:
        async with LocalStack(run_dir=run_dir) as stack:
            print(f"pipeline: {total:,} points in {len(messages):,} messages ...", file=sys.stderr)
            points_per_s = await pipeline(stack, messages, total)
            stored, distinct = await count_rows(stack.db_dsn)
            print(f"baseline: COPY of the same {total:,} rows ...", file=sys.stderr)
            baseline = await copy_baseline(stack.db_dsn, rows)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {
        "points": total,
        "points_per_message": per_message,
        "points_per_s": round(points_per_s),
        "copy_baseline_per_s": round(baseline),
        "ratio": round(points_per_s / baseline, 3),
        "lost": total - distinct,
        "duplicates": stored - distinct,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--points-per-message", type=int, default=100)
    parser.add_argument("--devices", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args.points, args.points_per_message, args.devices))
    print(
        f"\npipeline {result['points_per_s']:,} points/s · COPY baseline "
        f"{result['copy_baseline_per_s']:,} rows/s · ratio {result['ratio']} · "
        f"lost {result['lost']} · duplicates {result['duplicates']}",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
