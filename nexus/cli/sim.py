"""`nexus sim`: run the digital twin.

nexus sim fleet PLANT [--host H] [--base-port N] [--speed X] [--api-port N]
                [--replay FILE.csv [--loop]]
    serve every device of the plant (Modbus, OPC UA, S7) until Ctrl-C or SIGTERM; with
    --api-port, the fault HTTP API on 127.0.0.1 (simulators/api.py); with --replay, the tags
    recorded in FILE.csv serve the recording (simulators/replay.py), at --speed
nexus sim devices PLANT [--host H] [--base-port N] [-o FILE]
    print (or write) the gateway's device file for the plant
nexus sim record PLANT --duration D --out FILE.csv [--seed S] [--speed X] [--interval-ms N]
                 [--replay FILE.csv [--loop]]
    write the values the twin would serve over D simulated seconds, computed without serving
    or waiting (simulators/record.py); metadata (seed, speed, …) goes to FILE.csv.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nexus.errors import ConfigError

if TYPE_CHECKING:  # the simulators (and pymodbus) are imported only when a command runs
    from simulators.plant import Plant

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser("sim", help="run the digital twin (simulated plant)")
    commands = sim.add_subparsers(dest="sim_command", required=True, metavar="SIM_COMMAND")

    fleet = commands.add_parser("fleet", help="serve every device of a plant")
    fleet.add_argument("plant", type=Path, help="plant file (scenarios/plants/*.yaml)")
    fleet.add_argument("--host", help="address to listen on (default: each protocol's listen host)")
    fleet.add_argument("--base-port", type=int, help="first port (default: the plant's)")
    fleet.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall second (default 1)"
    )
    fleet.add_argument(
        "--api-port",
        type=int,
        help="serve the fault HTTP API on 127.0.0.1 at this port (0: any free; default: off)",
    )
    _replay_arguments(fleet)
    fleet.set_defaults(func=run_fleet)

    devices = commands.add_parser("devices", help="write the gateway's device file for a plant")
    devices.add_argument("plant", type=Path, help="plant file (scenarios/plants/*.yaml)")
    devices.add_argument("--host", help="where the gateway finds the fleet (default: the plant's)")
    devices.add_argument("--base-port", type=int, help="first port (default: the plant's)")
    devices.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    devices.set_defaults(func=write_devices)

    record = commands.add_parser(
        "record", help="write the values the twin would serve to a CSV file (no sockets)"
    )
    record.add_argument("plant", type=Path, help="plant file (scenarios/plants/*.yaml)")
    record.add_argument("--duration", type=float, required=True, help="simulated seconds to record")
    record.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    record.add_argument(
        "--seed", type=int, help="seed of the random signals (default: the plant's)"
    )
    record.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per wall second of the fleet recorded (metadata only; default 1)",
    )
    record.add_argument(
        "--interval-ms",
        type=int,
        default=1000,
        help="simulated time between samples (default 1000)",
    )
    _replay_arguments(record)
    record.set_defaults(func=write_recording)


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replay",
        type=Path,
        metavar="FILE.csv",
        help="serve the tags recorded in this CSV (as `nexus sim record` writes it) from it",
    )
    parser.add_argument(
        "--loop", action="store_true", help="with --replay: start again after the last row"
    )


def _plant(args: argparse.Namespace) -> Plant:
    from simulators.plant import load_plant

    plant = load_plant(args.plant)
    if args.base_port is not None:
        if not 1 <= args.base_port <= 65535:
            raise ConfigError("must be a port, 1 to 65535", field="--base-port")
        plant = plant.with_base_port(args.base_port)
    return _replayed(plant, args)


def _replayed(plant: Plant, args: argparse.Namespace) -> Plant:
    """The plant driven by the --replay recording, if one is given."""
    replay = getattr(args, "replay", None)
    if replay is None:
        if getattr(args, "loop", False):
            raise ConfigError("needs --replay", field="--loop")
        return plant
    plant = plant.with_replay(replay, loop=args.loop)
    log.info("replaying %s%s", replay, " in a loop" if args.loop else "")
    return plant


def write_devices(args: argparse.Namespace) -> int:
    text = _plant(args).gateway_yaml(args.host)
    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror}", file=str(args.output)) from exc
        log.info("wrote the gateway device file %s", args.output)
    return 0


LONG_RECORDING_VALUES = 100_000
"""A recording of at least this many values reports its progress (one line per 10 %)."""


def write_recording(args: argparse.Namespace) -> int:
    from simulators.plant import load_plant
    from simulators.record import Recording, metadata, with_seed, write_csv

    if not args.duration > 0:
        raise ConfigError("must be positive", field="--duration")
    if not args.speed > 0:
        raise ConfigError("must be positive", field="--speed")
    if args.interval_ms < 1:
        raise ConfigError("must be at least 1", field="--interval-ms")
    plant = load_plant(args.plant)
    if args.seed is not None:
        plant = with_seed(plant, args.seed)
    plant = _replayed(plant, args)
    recording = Recording(args.duration, args.interval_ms, args.speed)
    long = recording.sample_count * plant.tag_count >= LONG_RECORDING_VALUES

    def progress(percent: int) -> None:
        if long:
            log.info("recording %s: %d %%", args.out, percent)

    meta_path = args.out.with_name(args.out.name + ".json")
    try:
        with args.out.open("w", encoding="utf-8", newline="") as out:
            count = write_csv(plant, recording, out, progress=progress)
        meta = json.dumps(metadata(plant, recording, count), indent=2) + "\n"
        meta_path.write_text(meta, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}", file=str(exc.filename)) from exc
    log.info(
        "wrote %s: %d values of %d tags, %d samples over %g simulated s (seed %d)",
        args.out,
        count,
        plant.tag_count,
        recording.sample_count,
        recording.duration_s,
        plant.seed,
    )
    return 0


def run_fleet(args: argparse.Namespace) -> int:
    if args.speed < 0:
        raise ConfigError("must not be negative", field="--speed")
    if args.api_port is not None and not 0 <= args.api_port <= 65535:
        raise ConfigError("must be a port, 0 to 65535", field="--api-port")
    plant = _plant(args)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # they log every server start, connection and subscription at INFO
        for name in ("pymodbus", "asyncua", "snap7"):
            logging.getLogger(name).setLevel(logging.WARNING)
    raise_open_files_limit(FILES_PER_DEVICE * plant.device_count + FILES_SPARE)
    asyncio.run(_serve(plant, args.host, args.speed, args.api_port))
    return 0


FILES_PER_DEVICE = 3
"""File descriptors a served device may hold: its listening socket, a connection, a reconnect."""
FILES_SPARE = 256


def raise_open_files_limit(needed: int) -> int:
    """Raise the soft limit on open files towards the hard limit when `needed` is above it.

    A fleet of 1,300 devices holds ~2,600 sockets with one client each, above the usual soft
    limit of 1,024. Returns the soft limit in force; warns when it stays below `needed`.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                log.info("open files limit raised from %d to %d", soft, target)
                soft = target
            except (ValueError, OSError) as exc:
                log.warning("cannot raise the open files limit from %d: %s", soft, exc)
        if soft < needed:
            log.warning(
                "open files limit %d is below the %d this fleet may need: raise it (ulimit -n) "
                "or devices will refuse connections",
                soft,
                needed,
            )
    return int(soft)


async def _serve(plant: Plant, host: str | None, speed: float, api_port: int | None) -> None:
    from simulators.api import FaultApi
    from simulators.fleet import Fleet

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Fleet(plant, host=host, speed=speed) as fleet:
            for device in fleet.devices:
                where = f"{fleet.hosts[device.protocol]}:{device.port}"
                if device.protocol == "modbus":
                    where += f" unit {device.unit_id}"
                elif device.protocol == "s7":
                    where += f" rack {device.rack} slot {device.slot}"
                log.info(
                    "%s/%s/%s: %s %s, %d tags",
                    device.site,
                    device.line,
                    device.name,
                    device.protocol,
                    where,
                    len(device.tags),
                )
            async with contextlib.AsyncExitStack() as stack:
                if api_port is not None:
                    await stack.enter_async_context(FaultApi(fleet, port=api_port))
                log.info("serving until Ctrl-C or SIGTERM")
                await stop.wait()
                log.info("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
