"""`nexus conformance`: the conformance matrix against a fresh twin.

By default a private Mosquitto runs for the check (in a temporary directory, removed after);
``--mqtt-env`` uses the broker of the NEXUS_MQTT_* environment instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
from typing import TYPE_CHECKING

from nexus.cli.main import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:  # the twin and the protocol libraries load only when the command runs
    from nexus.conformance import Report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="check every protocol × data type against a fresh twin",
        description="Serve known values (edge values included) from a fresh twin of every "
        "protocol, run a gateway, and compare what it publishes with them.",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as JSON on the last line"
    )
    parser.add_argument(
        "--mqtt-env", action="store_true", help="use the NEXUS_MQTT_* broker, not a private one"
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for every cell (default 60)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    report = asyncio.run(_check(args.mqtt_env, args.timeout))
    if args.json:
        print(report.table(), file=sys.stderr)
        print(json.dumps(report.summary()))
    else:
        print(report.table())
    return EXIT_OK if report.ok else EXIT_FAILED


async def _check(from_env: bool, within_s: float) -> Report:
    from nexus.conformance import run_conformance
    from nexus.settings import MqttSettings, mqtt_from_env
    from nexus.stack.mosquitto import Mosquitto
    from nexus.stack.tools import temp_run_dir

    if from_env:
        return await run_conformance(
            mqtt_from_env(client_id="nexus-conformance"), within_s=within_s
        )
    run_dir = temp_run_dir(prefix="nexus-conformance-")
    try:
        async with Mosquitto(run_dir / "mosquitto", stack_root=run_dir) as broker:
            settings = MqttSettings(
                host=broker.host,
                port=broker.port,
                username=broker.username,
                password=broker.password,
                client_id="nexus-conformance",
            )
            return await run_conformance(settings, within_s=within_s)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
