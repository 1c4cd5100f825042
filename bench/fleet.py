"""`make bench-fleet`: one twin fleet process at scale, its start-up, memory and request capacity.

One ``nexus sim fleet`` process serves a plant of ``--modbus`` Modbus devices, ``--opcua``
OPC UA servers and ``--s7`` S7 PLCs (default 1,000 / 100 / 200), each on its own port, every
device 10 tags of mixed types (Modbus: 13 holding registers, OPC UA: 10 variables, S7: 32 bytes
of DB1). This process is the client, so the load does not share the fleet's CPU:

- **start-up**: from the launch until the fleet says it listens (``listening_s``), and until
  every device answered one read through its own port (``startup_s``); the fleet's RSS and
  CPU seconds then, and its CPU use while idle with every connection open.
- **capacity**: per protocol, one connection per device and ``--concurrency`` requests in
  flight (each worker reads its share of the devices in turn, one request = every tag of a
  device) for ``--duration`` seconds: requests/s, tags/s, latency p50/p95, errors, and the fleet
  process's CPU seconds (from /proc) per request.
- **baseline**: the same protocol's plain library server on one port, in its own process, with
  a static datastore of the same layout (pymodbus ``ModbusTcpServer`` over a
  ``ModbusSequentialDataBlock``, a bare asyncua ``Server`` with the same variables, a bare
  python-snap7 ``Server`` with DB1), the same connections and the same load. ``*_ratio`` is the
  twin's requests/s ÷ the baseline's, ``*_cpu_ratio`` the twin's CPU per request ÷ the
  baseline's: the twin's overhead per request.

Both sides run in Python on a machine shared by client and server: when the fleet's CPU during
the load (``*_cpu_pct``) is well below 100 % while the client's (``*_client_cpu_pct``) is near
100 %, the client was the limit, and the CPU per request is the figure to compare.

Prints progress to stderr, then one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nexus.model.tags import AnyDevice, ModbusDevice, OpcUaDevice, S7Device
from nexus.stack.tools import free_port, free_port_range, temp_run_dir
from simulators.plant import Plant

PROTOCOLS = ("modbus", "opcua", "s7")
TAGS_PER_DEVICE = 10
MODBUS_REGISTERS = 13  # holding 0–12: the 10 Modbus tags below
S7_DB_BYTES = 32  # DB1.DBB0–31: the 10 S7 tags below
STARTUP_TIMEOUT_S = 600.0
CONNECT_PARALLEL = 50
IDLE_S = 5.0
PROGRESS_S = 5.0

# -- the plant ---------------------------------------------------------------------------------

SINE = {"kind": "sine", "amplitude": 5, "offset": 60, "period_s": 60}
SMALL_SINE = {"kind": "sine", "amplitude": 100, "offset": 0, "period_s": 20}
COUNTER16 = {"kind": "counter", "increment": 0.5, "max": 65535}
COUNTER31 = {"kind": "counter", "increment": 2.5, "max": 2147483647}
COUNTER32 = {"kind": "counter", "increment": 1, "max": 4294967295}
WALK = {"kind": "random_walk", "start": 15, "step": 0.2, "min": 10, "max": 20}
RAMP = {"kind": "ramp", "start": 0, "slope": 1, "min": 0, "max": 255}
STEP = {"kind": "step", "levels": [1, 2, 3], "dwell_s": 10}
ON_OFF = {"kind": "step", "levels": [1, 0], "dwell_s": 5}
TEXT = {"kind": "text", "values": ["Pale Ale", "Märzen"], "dwell_s": 30}

# (address, type, extra fields, signal): holding registers 0–12
_MODBUS_TAGS: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = [
    (0, "float32", {"unit": "°C"}, SINE),
    (2, "uint32", {"order": "CDAB"}, COUNTER32),
    (4, "int16", {"scale": 0.1, "unit": "bar"}, SINE),
    (5, "uint16", {}, RAMP),
    (6, "int16", {}, SMALL_SINE),
    (7, "uint16", {}, STEP),
    (8, "uint16", {}, {"kind": "constant", "value": 1450}),
    (9, "int16", {"order": "BADC"}, SMALL_SINE),
    (10, "uint16", {}, COUNTER16),
    (11, "float32", {"order": "CDAB", "unit": "m³/h"}, WALK),
]
# (OPC UA DataType, signal)
_OPCUA_TAGS: list[tuple[str, dict[str, Any]]] = [
    ("Double", SINE),
    ("Float", WALK),
    ("Int32", COUNTER31),
    ("UInt16", STEP),
    ("Boolean", ON_OFF),
    ("String", TEXT),
    ("Double", WALK),
    ("Int16", SMALL_SINE),
    ("UInt32", COUNTER32),
    ("Byte", RAMP),
]
# (S7 address, signal): DB1.DBB0–31
_S7_TAGS: list[tuple[str, dict[str, Any]]] = [
    ("DB1.DBD0:REAL", SINE),
    ("DB1.DBD4:DINT", COUNTER31),
    ("DB1.DBW8:INT", SMALL_SINE),
    ("DB1.DBW10:WORD", STEP),
    ("DB1.DBD12:REAL", WALK),
    ("DB1.DBD16:LREAL", WALK),
    ("DB1.DBD24:UDINT", COUNTER32),
    ("DB1.DBX28.0:BOOL", ON_OFF),
    ("DB1.DBX28.1:BOOL", {"kind": "constant", "value": 1}),
    ("DB1.DBW30:INT", RAMP),
]


def _tags(protocol: str) -> list[dict[str, Any]]:
    if protocol == "modbus":
        return [
            {"name": f"t{i}", "table": "holding", "address": a, "type": t, **extra, "signal": s}
            for i, (a, t, extra, s) in enumerate(_MODBUS_TAGS)
        ]
    if protocol == "opcua":
        return [{"name": f"t{i}", "type": t, "signal": s} for i, (t, s) in enumerate(_OPCUA_TAGS)]
    return [{"name": f"t{i}", "address": a, "signal": s} for i, (a, s) in enumerate(_S7_TAGS)]


def plant_data(counts: dict[str, int], base_port: int) -> dict[str, Any]:
    """The bench plant: counts[protocol] devices of 10 tags each, ports from `base_port` on
    (the Modbus devices first, then the OPC UA servers, then the S7 PLCs)."""
    lines: list[dict[str, Any]] = []
    specs: dict[str, dict[str, Any]] = {
        "modbus": {"name": "mb", "protocol": "modbus", "unit_id": 1},
        "opcua": {"name": "ua", "protocol": "opcua", "mode": "polling"},
        "s7": {"name": "plc", "protocol": "s7", "rack": 0, "slot": 1},
    }
    data: dict[str, Any] = {"plant": "bench-fleet", "seed": 1}
    port = base_port
    for protocol in PROTOCOLS:
        data[protocol] = {"host": "127.0.0.1", "base_port": port}
        port += counts[protocol]
        if counts[protocol]:
            device = {**specs[protocol], "count": counts[protocol], "tags": _tags(protocol)}
            lines.append({"name": protocol, "devices": [device]})
    data["sites"] = [{"name": "bench", "lines": lines}]
    return data


# -- process helpers ---------------------------------------------------------------------------


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (every thread), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process in MB, from /proc/PID/status."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in values:
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit (1,300 devices need ~3,000)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


async def start_process(
    args: list[str], log: Path, ready: str, what: str, timeout_s: float
) -> tuple[asyncio.subprocess.Process, float]:
    """Start `args` with its output to `log`; return it and the seconds until `ready` appeared
    in the log, printing progress meanwhile."""
    began = time.perf_counter()
    with log.open("wb") as handle:
        proc = await asyncio.create_subprocess_exec(*args, stdout=handle, stderr=handle)
    next_note = began + PROGRESS_S
    while ready not in await asyncio.to_thread(_read, log):
        now = time.perf_counter()
        if proc.returncode is not None or now - began > timeout_s:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            tail = (await asyncio.to_thread(_read, log))[-3000:]
            raise RuntimeError(f"{what} did not start within {timeout_s:.0f} s:\n{tail}")
        if now >= next_note:
            rss, _ = memory_mb(proc.pid)
            say(
                f"  {what}: starting, {now - began:.0f} s, RSS {rss:.0f} MB, "
                f"CPU {cpu_seconds(proc.pid):.1f} s, {threads_of(proc.pid)} threads"
            )
            next_note += PROGRESS_S
        await asyncio.sleep(0.1)
    return proc, time.perf_counter() - began


async def stop_process(proc: asyncio.subprocess.Process) -> float:
    """SIGTERM, then wait (SIGKILL after 60 s); the seconds it took."""
    began = time.perf_counter()
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return time.perf_counter() - began


# -- clients -----------------------------------------------------------------------------------


class ReadError(Exception):
    """A device answered with an error (an exception response, a bad status)."""


@dataclass
class Reader:
    """One connection to one device: `read()` reads every tag once and returns the tag count."""

    name: str
    read: Callable[[], Awaitable[int]]
    close: Callable[[], Awaitable[None]]


async def connect_reader(device: AnyDevice, port: int | None = None) -> Reader:
    """A client of `device` (at `port` instead of its own, for the baseline)."""
    if isinstance(device, OpcUaDevice):
        url = device.endpoint
        if port is not None:
            url = f"{url.rsplit(':', 1)[0]}:{port}"
        return await _opcua_reader(device, url)
    if isinstance(device, ModbusDevice):
        return await _modbus_reader(device, device.port if port is None else port)
    return await _s7_reader(device, device.port if port is None else port)


async def _modbus_reader(device: ModbusDevice, port: int) -> Reader:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient(device.host, port=port, timeout=5, retries=0)
    if not await client.connect():
        client.close()
        raise ReadError(f"{device.name}: no Modbus connection to {device.host}:{port}")

    async def read() -> int:
        response = await client.read_holding_registers(
            0, count=MODBUS_REGISTERS, device_id=device.unit_id
        )
        if response.isError() or len(response.registers) != MODBUS_REGISTERS:
            raise ReadError(f"{device.name}: {response}")
        return TAGS_PER_DEVICE

    async def close() -> None:
        client.close()

    return Reader(device.name, read, close)


async def _opcua_reader(device: OpcUaDevice, url: str) -> Reader:
    from asyncua import Client, ua

    client = Client(url, timeout=10)
    await client.connect()
    nodes = [client.get_node(tag.node_id) for tag in device.tags]

    async def read() -> int:
        values = await client.read_attributes(nodes, ua.AttributeIds.Value)
        bad = [v.StatusCode for v in values if not v.StatusCode.is_good()]
        if bad or len(values) != len(nodes):
            raise ReadError(f"{device.name}: {bad or len(values)}")
        return len(values)

    async def close() -> None:
        await client.disconnect()

    return Reader(device.name, read, close)


async def _s7_reader(device: S7Device, port: int) -> Reader:
    from snap7.async_client import AsyncClient

    client = AsyncClient()
    await client.connect(device.host, device.rack, device.slot, port)

    async def read() -> int:
        data = await client.db_read(1, 0, S7_DB_BYTES)
        if len(data) != S7_DB_BYTES:
            raise ReadError(f"{device.name}: {len(data)} bytes")
        return TAGS_PER_DEVICE

    async def close() -> None:
        await client.disconnect()

    return Reader(device.name, read, close)


async def connect_all(
    devices: Sequence[AnyDevice], what: str, port: int | None = None
) -> tuple[list[Reader], int]:
    """Connect to every device (`CONNECT_PARALLEL` at a time) and read each once.

    Returns the readers that answered and the number of devices that did not."""
    gate = asyncio.Semaphore(CONNECT_PARALLEL)
    done = 0
    failed = 0
    readers: list[Reader] = []
    began = time.perf_counter()
    next_note = began + PROGRESS_S

    async def one(device: AnyDevice) -> None:
        nonlocal done, failed, next_note
        async with gate:
            reader: Reader | None = None
            try:
                reader = await asyncio.wait_for(connect_reader(device, port), 30)
                await asyncio.wait_for(reader.read(), 30)
                readers.append(reader)
            except Exception as exc:
                failed += 1
                if failed <= 5:
                    say(f"  {what}: {device.name} did not answer: {exc!r}")
                if reader is not None:
                    with contextlib.suppress(Exception):
                        await reader.close()
            done += 1
            now = time.perf_counter()
            if now >= next_note:
                say(f"  {what}: {done}/{len(devices)} answered ({now - began:.0f} s)")
                next_note = now + PROGRESS_S

    await asyncio.gather(*(one(d) for d in devices))
    return readers, failed


async def close_all(readers: Sequence[Reader]) -> None:
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one(reader: Reader) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.close(), 10)

    await asyncio.gather(*(one(r) for r in readers))


# -- load --------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int = 0
    tags: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def figures(self, prefix: str) -> dict[str, Any]:
        rate = self.requests / self.elapsed_s if self.elapsed_s else 0.0
        return {
            f"{prefix}req_per_s": round(rate, 1),
            f"{prefix}tags_per_s": round(self.tags / self.elapsed_s if self.elapsed_s else 0.0),
            f"{prefix}p50_ms": round(self.percentile(0.50), 2),
            f"{prefix}p95_ms": round(self.percentile(0.95), 2),
            f"{prefix}errors": self.errors,
            f"{prefix}cpu_s": round(self.server_cpu_s, 2),
            f"{prefix}cpu_pct": round(100 * self.server_cpu_s / self.elapsed_s, 1)
            if self.elapsed_s
            else 0.0,
            f"{prefix}cpu_ms_per_req": round(1000 * self.server_cpu_s / self.requests, 4)
            if self.requests
            else None,
            f"{prefix}client_cpu_pct": round(100 * self.client_cpu_s / self.elapsed_s, 1)
            if self.elapsed_s
            else 0.0,
        }


async def load(
    readers: Sequence[Reader], server_pid: int, duration_s: float, concurrency: int, what: str
) -> LoadResult:
    """`concurrency` workers, each reading its share of `readers` in turn, for `duration_s`."""
    result = LoadResult()
    workers = max(1, min(concurrency, len(readers)))
    deadline = 0.0

    async def worker(mine: Sequence[Reader]) -> None:
        while mine:
            for reader in mine:
                began = time.perf_counter()
                if began >= deadline:
                    return
                try:
                    tags = await reader.read()
                except Exception as exc:
                    result.errors += 1
                    if result.errors <= 5:
                        say(f"  {what}: {reader.name}: {exc!r}")
                    await asyncio.sleep(0.1)  # a broken connection must not spin
                    continue
                result.latencies.append(time.perf_counter() - began)
                result.requests += 1
                result.tags += tags

    began = time.perf_counter()
    deadline = began + duration_s
    cpu0, client0 = cpu_seconds(server_pid), time.process_time()
    tasks = [asyncio.create_task(worker(readers[i::workers])) for i in range(workers)]
    try:
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=PROGRESS_S)
            elapsed = time.perf_counter() - began
            if elapsed < duration_s:
                say(
                    f"  {what}: {elapsed:.0f} s, {result.requests:,} requests "
                    f"({result.requests / elapsed:,.0f}/s), {result.errors} errors"
                )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result.elapsed_s = time.perf_counter() - began
    result.server_cpu_s = cpu_seconds(server_pid) - cpu0
    result.client_cpu_s = time.process_time() - client0
    return result


# -- the baseline servers (run as `python -m bench.fleet --baseline-server PROTOCOL`) ----------


def serve_baseline(protocol: str, port: int, clients: int) -> int:
    """A plain library server with a static datastore on `port`; prints "ready", serves until
    SIGTERM."""
    devices = Plant.model_validate(plant_data(_one(protocol), port)).gateway_config()
    device = devices[0]
    if protocol == "s7":
        import threading

        from snap7.server import Server as S7Server
        from snap7.type import SrvArea

        s7 = S7Server(log=False, max_clients=clients + 16)
        s7.register_area(SrvArea.DB, 1, bytearray(range(S7_DB_BYTES)))
        s7.start_to("127.0.0.1", port)
        if s7.server_socket is not None:  # snap7 listens with a backlog of 5: too few for
            s7.server_socket.listen(256)  # hundreds of clients connecting to one port at once
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print("ready", flush=True)
        stop.wait()
        s7.stop()
        return 0
    asyncio.run(_serve_async_baseline(device, port))
    return 0


def _one(protocol: str) -> dict[str, int]:
    return {p: int(p == protocol) for p in PROTOCOLS}


async def _serve_async_baseline(device: AnyDevice, port: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if isinstance(device, ModbusDevice):
        from pymodbus.datastore import (
            ModbusDeviceContext,
            ModbusSequentialDataBlock,
            ModbusServerContext,
        )
        from pymodbus.server import ModbusTcpServer

        # pymodbus data blocks are 1-based inside: address 0 is the block's index 1
        block = ModbusSequentialDataBlock(1, list(range(100, 100 + MODBUS_REGISTERS)))  # type: ignore[no-untyped-call]
        context = ModbusServerContext(
            devices={device.unit_id: ModbusDeviceContext(hr=block)}, single=False
        )
        server = ModbusTcpServer(context=context, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        print("ready", flush=True)
        await stop.wait()
        await server.shutdown()  # type: ignore[no-untyped-call]
        return
    assert isinstance(device, OpcUaDevice)
    from asyncua import Server, ua

    ua_server = Server()
    await ua_server.init()
    ua_server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    ua_server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    index = await ua_server.register_namespace("urn:nexus-edge:twin")
    folder = await ua_server.nodes.objects.add_folder(index, "bench")
    for i, (tag, (type_name, _signal)) in enumerate(zip(device.tags, _OPCUA_TAGS, strict=True)):
        variant = ua.VariantType[type_name]
        value: object = {"Boolean": True, "String": "Pale Ale"}.get(type_name, i)
        if variant in (ua.VariantType.Double, ua.VariantType.Float):
            value = float(i)
        await folder.add_variable(ua.NodeId.from_string(tag.node_id), tag.name, value, variant)
    async with ua_server:
        print("ready", flush=True)
        await stop.wait()


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Options:
    counts: dict[str, int]
    duration_s: float
    concurrency: int
    baseline: bool


async def run(options: Options) -> dict[str, Any]:
    work = temp_run_dir(prefix="nexus-bench-fleet-")
    try:
        return await _run(options, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _run(options: Options, work: Path) -> dict[str, Any]:
    counts = options.counts
    total = sum(counts.values())
    plant = Plant.model_validate(plant_data(counts, free_port_range(total)))
    plant_file = work / "plant.yaml"
    plant_file.write_text(yaml.safe_dump(plant.model_dump(mode="json")), encoding="utf-8")
    devices = plant.gateway_config()
    by_protocol = {p: [d for d in devices if d.protocol == p] for p in PROTOCOLS}
    result: dict[str, Any] = {
        "modbus_devices": counts["modbus"],
        "opcua_servers": counts["opcua"],
        "s7_plcs": counts["s7"],
        "tags": plant.tag_count,
        "duration_s": options.duration_s,
        "concurrency": options.concurrency,
    }
    say(
        f"fleet: {counts['modbus']} Modbus devices, {counts['opcua']} OPC UA servers, "
        f"{counts['s7']} S7 PLCs, {plant.tag_count:,} tags, one port each"
    )
    python = sys.executable
    fleet, listening_s = await start_process(
        [python, "-m", "nexus.cli.main", "sim", "fleet", str(plant_file)],
        work / "fleet.log",
        "serving until",
        "fleet",
        STARTUP_TIMEOUT_S,
    )
    launched = time.perf_counter() - listening_s
    errors = 0
    readers: dict[str, list[Reader]] = {}
    try:
        rss, _ = memory_mb(fleet.pid)
        say(
            f"  fleet: listening after {listening_s:.1f} s (RSS {rss:.0f} MB); reading every device"
        )
        connected = await asyncio.gather(
            *(connect_all(by_protocol[p], f"fleet {p}") for p in PROTOCOLS)
        )
        startup_s = time.perf_counter() - launched
        for protocol, (mine, failed) in zip(PROTOCOLS, connected, strict=True):
            readers[protocol] = mine
            result[f"{protocol}_answered"] = len(mine)
            errors += failed
        rss, _ = memory_mb(fleet.pid)
        result.update(
            listening_s=round(listening_s, 2),
            startup_s=round(startup_s, 2),
            startup_cpu_s=round(cpu_seconds(fleet.pid), 2),
            rss_mb=round(rss, 1),
            threads=threads_of(fleet.pid),
        )
        say(
            f"  fleet: every device answered after {startup_s:.1f} s "
            f"({total - errors}/{total}), RSS {rss:.0f} MB"
        )
        say(f"fleet idle, every connection open: {IDLE_S:.0f} s ...")
        cpu0 = cpu_seconds(fleet.pid)
        await asyncio.sleep(IDLE_S)
        result["idle_cpu_pct"] = round(100 * (cpu_seconds(fleet.pid) - cpu0) / IDLE_S, 1)
        for protocol in PROTOCOLS:
            if not readers[protocol]:
                continue
            say(f"fleet {protocol}: {len(readers[protocol])} devices, {options.duration_s:.0f} s")
            outcome = await load(
                readers[protocol],
                fleet.pid,
                options.duration_s,
                options.concurrency,
                f"fleet {protocol}",
            )
            errors += outcome.errors
            result.update(outcome.figures(f"{protocol}_"))
            _summary(f"fleet {protocol}", outcome)
        rss, peak = memory_mb(fleet.pid)
        result.update(rss_after_load_mb=round(rss, 1), rss_peak_mb=round(peak, 1))
    finally:
        await asyncio.gather(*(close_all(r) for r in readers.values()))
        result["stop_s"] = round(await stop_process(fleet), 2)
    if fleet.returncode not in (0, -signal.SIGTERM):
        tail = _read(work / "fleet.log")[-2000:]
        say(f"  fleet exited with {fleet.returncode}:\n{tail}")
        errors += 1
    if options.baseline:
        for protocol in PROTOCOLS:
            if by_protocol[protocol]:
                result.update(await _baseline(protocol, by_protocol[protocol], options, work))
    for protocol in PROTOCOLS:
        rate, base = (
            result.get(f"{protocol}_req_per_s"),
            result.get(f"{protocol}_baseline_req_per_s"),
        )
        if rate and base:
            result[f"{protocol}_ratio"] = round(rate / base, 3)
        cpu, base_cpu = (
            result.get(f"{protocol}_cpu_ms_per_req"),
            result.get(f"{protocol}_baseline_cpu_ms_per_req"),
        )
        if cpu and base_cpu:
            result[f"{protocol}_cpu_ratio"] = round(cpu / base_cpu, 3)
    result["errors"] = errors
    return result


async def _baseline(
    protocol: str, devices: list[AnyDevice], options: Options, work: Path
) -> dict[str, Any]:
    """The plain library server on one port, the same connections and load."""
    port = free_port()
    say(f"baseline {protocol}: the plain library server on one port, {len(devices)} connections")
    server, _ = await start_process(
        [
            sys.executable,
            "-m",
            "bench.fleet",
            "--baseline-server",
            protocol,
            "--port",
            str(port),
            "--clients",
            str(len(devices)),
        ],
        work / f"baseline-{protocol}.log",
        "ready",
        f"baseline {protocol}",
        120,
    )
    # every client reads what the baseline serves: one device's tags (OPC UA node ids)
    served = Plant.model_validate(plant_data(_one(protocol), port)).gateway_config()[0]
    readers: list[Reader] = []
    try:
        readers, failed = await connect_all(
            [served.model_copy(update={"name": d.name}) for d in devices],
            f"baseline {protocol}",
            None,
        )
        outcome = await load(
            readers, server.pid, options.duration_s, options.concurrency, f"baseline {protocol}"
        )
        outcome.errors += failed
        _summary(f"baseline {protocol}", outcome)
        return outcome.figures(f"{protocol}_baseline_")
    finally:
        await close_all(readers)
        await stop_process(server)


def _summary(what: str, outcome: LoadResult) -> None:
    f = outcome.figures("")
    say(
        f"  {what}: {f['req_per_s']:,} requests/s ({f['tags_per_s']:,} tags/s), "
        f"p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, {f['errors']} errors, server CPU "
        f"{f['cpu_pct']} % ({f['cpu_ms_per_req']} ms/request), client CPU {f['client_cpu_pct']} %"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--modbus", type=int, default=1000, help="Modbus devices (default 1000)")
    parser.add_argument("--opcua", type=int, default=100, help="OPC UA servers (default 100)")
    parser.add_argument("--s7", type=int, default=200, help="S7 PLCs (default 200)")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of load per protocol (default 20)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight per protocol (default 32)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline servers")
    parser.add_argument("--baseline-server", choices=PROTOCOLS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("asyncua", "pymodbus", "snap7"):
        logging.getLogger(name).setLevel(logging.ERROR)
    raise_fd_limit()
    if args.baseline_server:
        return serve_baseline(args.baseline_server, args.port, args.clients)
    counts = {"modbus": args.modbus, "opcua": args.opcua, "s7": args.s7}
    if any(n < 0 for n in counts.values()) or not any(counts.values()):
        parser.error("the device counts must not be negative, and not all 0")
    if args.duration <= 0 or args.concurrency < 1:
        parser.error("--duration must be positive and --concurrency at least 1")
    options = Options(counts, args.duration, args.concurrency, not args.no_baseline)
    result = asyncio.run(run(options))
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
