"""`make bench-gateway`: tags/s one gateway process sustains per protocol, and its CPU cost.

For each protocol, in one run and against the same twin:

- **gateway**: ``nexus gateway run`` in its own process polls a twin fleet (another process)
  every 100 ms (the shortest interval) with more tags than it can read, and publishes to a
  private Mosquitto (a subscriber takes the points). Measured over the window: tags acquired
  per second, and the gateway process's CPU seconds per 100,000 tags (from /proc).
- **baseline**: the protocol's own client library (pymodbus, asyncua, python-snap7) reading
  the same tags of the same devices in a tight loop, one task per device, no gateway: what the
  raw client costs and sustains in one Python process.

Reference point: EMQ Neuron (C) publishes 100K points/s at about 1.2 cores for Modbus TCP,
i.e. about 1.2 CPU seconds per 100K points.

The offered load (``demand_tags_per_s``) is what the twin and this 2-core machine can serve
beside the gateway; when ``gateway_tags_per_s`` equals it, the gateway kept up with all of it.

Prints progress, then one JSON object on the last line: per protocol
``gateway_tags_per_s``, ``gateway_cpu_s_per_100k``, ``baseline_tags_per_s``,
``baseline_cpu_s_per_100k``, ``ratio_tags_per_s`` and ``ratio_cpu`` (gateway ÷ baseline), and
``gateway_tags_per_s_per_core`` (100K ÷ the CPU cost: derived, not measured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from nexus.model.payload import decode_points
from nexus.model.tags import ModbusDevice, OpcUaDevice, S7Device
from nexus.mqtt import MqttClient
from nexus.settings import MqttSettings
from nexus.stack.mosquitto import Mosquitto
from nexus.stack.tools import free_port, free_port_range, temp_run_dir
from simulators.plant import Plant

POLL_MS = 100
NEURON = {"points_per_s": 100_000, "cores": 1.2, "cpu_s_per_100k": 1.2, "per_core": 83_333}

# devices × tags per protocol: demand (devices × tags × 10/s) above what one process reads
SIZES = {"modbus": (80, 125), "opcua": (10, 400), "s7": (50, 110)}

RAMP = {"kind": "ramp", "start": 0, "slope": 1, "min": 0, "max": 1000}


def plant_data(protocol: str, devices: int, tags: int, base_port: int) -> dict[str, Any]:
    if protocol == "modbus":
        device_tags: list[dict[str, Any]] = [
            {"name": f"t{i:03d}", "address": i, "type": "uint16", "signal": RAMP}
            for i in range(tags)
        ]
    elif protocol == "opcua":
        device_tags = [{"name": f"t{i:03d}", "type": "Double", "signal": RAMP} for i in range(tags)]
    else:
        device_tags = [
            {"name": f"t{i:03d}", "address": f"DB1.DBD{4 * i}:REAL", "signal": RAMP}
            for i in range(tags)
        ]
    device: dict[str, Any] = {
        "name": "dev",
        "count": devices,
        "protocol": protocol,
        "poll_interval_ms": POLL_MS,
        "tags": device_tags,
    }
    if protocol == "opcua":
        device["mode"] = "polling"
    return {
        "plant": f"bench-{protocol}",
        protocol: {"host": "127.0.0.1", "base_port": base_port},
        "sites": [{"name": "bench", "lines": [{"name": protocol, "devices": [device]}]}],
    }


# -- the twin, in its own process ------------------------------------------------------------


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


async def start_process(
    args: list[str], log: Path, ready: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start `args` with its output to `log`; return once `ready` appears in the log."""
    with log.open("wb") as handle:
        proc = await asyncio.create_subprocess_exec(*args, stdout=handle, stderr=handle, env=env)
    deadline = time.monotonic() + 60
    while ready not in await asyncio.to_thread(_read, log):
        if proc.returncode is not None or time.monotonic() > deadline:
            proc.kill()
            tail = (await asyncio.to_thread(_read, log))[-2000:]
            raise RuntimeError(f"{' '.join(args[3:5])} did not start:\n{tail}")
        await asyncio.sleep(0.1)
    return proc


async def stop_process(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "_total "):
                return float(line.split()[-1])
    return 0.0


# -- baseline: the raw client in a tight loop ------------------------------------------------


async def baseline(devices: list[Any], duration_s: float) -> tuple[float, float]:
    """(tags/s, CPU s per 100K tags) of the raw client libraries reading every device in turn,
    one request after the other, as fast as they answer (one loop: many concurrent loops of
    pymodbus clients in one process slow each other down, by a factor growing with their
    number, which would make the baseline meaninglessly low)."""
    readers = [await _raw_reader(d) for d in devices]
    try:
        for read, _ in readers:  # warm up: every connection answered once
            await read()
        count = 0
        began, cpu0 = time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - began) < duration_s:
            for read, _ in readers:
                count += await read()
        cpu = time.process_time() - cpu0
    finally:
        for _, close in readers:
            await close()
    return count / elapsed, cpu / count * 100_000


async def _raw_reader(
    device: Any,
) -> tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[None]]]:
    n = len(device.tags)
    if isinstance(device, ModbusDevice):
        from pymodbus.client import AsyncModbusTcpClient

        modbus = AsyncModbusTcpClient(device.host, port=device.port, timeout=5)
        await modbus.connect()

        async def read_modbus() -> int:
            response = await modbus.read_holding_registers(0, count=n, device_id=device.unit_id)
            return len(response.registers)

        async def close_modbus() -> None:
            modbus.close()

        return read_modbus, close_modbus
    if isinstance(device, OpcUaDevice):
        from asyncua import Client

        client = Client(device.endpoint, timeout=10)
        await client.connect()
        nodes = [client.get_node(t.node_id) for t in device.tags]

        async def read_opcua() -> int:
            return len(await client.read_values(nodes))

        async def close_opcua() -> None:
            await client.disconnect()

        return read_opcua, close_opcua
    assert isinstance(device, S7Device)
    from snap7.async_client import AsyncClient

    s7 = AsyncClient()
    await s7.connect(device.host, device.rack, device.slot, device.port)

    async def read_s7() -> int:
        await s7.db_read(1, 0, 4 * n)
        return n

    async def close_s7() -> None:
        await s7.disconnect()

    return read_s7, close_s7


# -- one protocol ------------------------------------------------------------------------------


async def bench_protocol(
    protocol: str, broker: Mosquitto, work: Path, duration_s: float
) -> dict[str, Any]:
    devices, tags = SIZES[protocol]
    plant = Plant.model_validate(plant_data(protocol, devices, tags, free_port_range(devices)))
    plant_file = work / f"{protocol}-plant.yaml"
    plant_file.write_text(yaml.safe_dump(plant.model_dump(mode="json")), encoding="utf-8")
    config = work / f"{protocol}-devices.yaml"
    config.write_text(plant.gateway_yaml(), encoding="utf-8")
    python = sys.executable
    print(f"{protocol}: {devices} devices × {tags} tags every {POLL_MS} ms", file=sys.stderr)
    twin = await start_process(
        [python, "-m", "nexus.cli.main", "sim", "fleet", str(plant_file)],
        work / f"{protocol}-twin.log",
        "serving until",
    )
    try:
        print("  baseline: the raw client in a tight loop ...", file=sys.stderr)
        base_rate, base_cpu = await baseline(plant.gateway_config(), duration_s)
        print("  gateway: nexus gateway run ...", file=sys.stderr)
        gw_rate, gw_cpu, published = await measure_gateway(broker, config, work, duration_s)
    finally:
        await stop_process(twin)
    result = {
        "devices": devices,
        "tags": devices * tags,
        "poll_interval_ms": POLL_MS,
        "demand_tags_per_s": devices * tags * 1000 // POLL_MS,
        "gateway_tags_per_s": round(gw_rate),
        "gateway_published_per_s": round(published),
        "gateway_cpu_s_per_100k": round(gw_cpu, 3),
        # derived, not measured: what one fully busy core would read at this cost per tag
        "gateway_tags_per_s_per_core": round(100_000 / gw_cpu),
        "baseline_tags_per_s": round(base_rate),
        "baseline_cpu_s_per_100k": round(base_cpu, 3),
        "ratio_tags_per_s": round(gw_rate / base_rate, 3),
        "ratio_cpu": round(gw_cpu / base_cpu, 3),
    }
    print(
        f"  gateway {result['gateway_tags_per_s']:,} tags/s at "
        f"{result['gateway_cpu_s_per_100k']} CPU s/100K · baseline "
        f"{result['baseline_tags_per_s']:,} tags/s at {result['baseline_cpu_s_per_100k']} "
        f"CPU s/100K",
        file=sys.stderr,
    )
    return result


async def measure_gateway(
    broker: Mosquitto, config: Path, work: Path, duration_s: float
) -> tuple[float, float, float]:
    """(tags/s acquired, CPU s per 100K tags, points/s published) of the gateway process."""
    http_port = free_port()
    env = {
        **os.environ,
        "NEXUS_MQTT_HOST": broker.host,
        "NEXUS_MQTT_PORT": str(broker.port),
        "NEXUS_MQTT_USERNAME": broker.username,
        "NEXUS_MQTT_PASSWORD": broker.password,
        "NEXUS_GATEWAY_ID": f"bench-{config.stem}",
    }
    settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        username=broker.username,
        password=broker.password,
        client_id=f"bench-reader-{config.stem}",
    )
    received = 0
    async with MqttClient(settings, subscriptions=("dev/#",)) as reader:

        async def take() -> None:
            nonlocal received
            while True:
                message = await reader.messages.get()
                received += len(decode_points(message.topic, message.payload))

        taker = asyncio.create_task(take())
        gateway = await start_process(
            [
                sys.executable,
                "-m",
                "nexus.cli.main",
                "gateway",
                "run",
                "--config",
                str(config),
                "--http-port",
                str(http_port),
                "--spool-dir",
                str(work / f"spool-{config.stem}"),
            ],
            work / f"{config.stem}-gateway.log",
            "gateway",
            env=env,
        )
        try:
            await asyncio.sleep(3.0)  # warm up: sessions open, planning done, steady state
            t0, cpu0 = time.perf_counter(), cpu_seconds(gateway.pid)
            acquired0 = metric(http_port, "nexus_gateway_points_acquired")
            published0 = metric(http_port, "nexus_gateway_points_published")
            await asyncio.sleep(duration_s)
            t1, cpu1 = time.perf_counter(), cpu_seconds(gateway.pid)
            acquired1 = metric(http_port, "nexus_gateway_points_acquired")
            published1 = metric(http_port, "nexus_gateway_points_published")
        finally:
            await stop_process(gateway)
            taker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await taker
    tags = acquired1 - acquired0
    if tags <= 0:
        raise RuntimeError(
            f"the gateway acquired nothing: see {work / (config.stem + '-gateway.log')}"
        )
    return tags / (t1 - t0), (cpu1 - cpu0) / tags * 100_000, (published1 - published0) / (t1 - t0)


async def run(protocols: list[str], duration_s: float) -> dict[str, Any]:
    work = temp_run_dir(prefix="nexus-bench-gateway-")
    try:
        async with Mosquitto(work / "mosquitto", stack_root=work) as broker:
            results: dict[str, Any] = {}
            for protocol in protocols:
                results[protocol] = await bench_protocol(protocol, broker, work, duration_s)
            results["reference_neuron_modbus"] = NEURON
            return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument(
        "--protocols", default="modbus,opcua,s7", help="comma-separated (default: all three)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    result = asyncio.run(run(protocols, args.duration))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
