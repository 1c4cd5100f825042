"""`nexus sim`: run the digital twin.

nexus sim fleet PLANT [--host H] [--base-port N] [--speed X]
    serve every device of the plant (Modbus, OPC UA, S7) until Ctrl-C or SIGTERM
nexus sim devices PLANT [--host H] [--base-port N] [-o FILE]
    print (or write) the gateway's device file for the plant
"""

from __future__ import annotations

import argparse
import asyncio
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
    fleet.set_defaults(func=run_fleet)

    devices = commands.add_parser("devices", help="write the gateway's device file for a plant")
    devices.add_argument("plant", type=Path, help="plant file (scenarios/plants/*.yaml)")
    devices.add_argument("--host", help="where the gateway finds the fleet (default: the plant's)")
    devices.add_argument("--base-port", type=int, help="first port (default: the plant's)")
    devices.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    devices.set_defaults(func=write_devices)


def _plant(args: argparse.Namespace) -> Plant:
    from simulators.plant import load_plant

    plant = load_plant(args.plant)
    if args.base_port is not None:
        if not 1 <= args.base_port <= 65535:
            raise ConfigError("must be a port, 1 to 65535", field="--base-port")
        plant = plant.with_base_port(args.base_port)
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


def run_fleet(args: argparse.Namespace) -> int:
    if args.speed < 0:
        raise ConfigError("must not be negative", field="--speed")
    plant = _plant(args)
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # they log every server start, connection and subscription at INFO
        for name in ("pymodbus", "asyncua", "snap7"):
            logging.getLogger(name).setLevel(logging.WARNING)
    asyncio.run(_serve(plant, args.host, args.speed))
    return 0


async def _serve(plant: Plant, host: str | None, speed: float) -> None:
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
            log.info("serving until Ctrl-C or SIGTERM")
            await stop.wait()
            log.info("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
