"""``make load-fleet``: grow a twin fleet and the gateway's device list, step by step.

Each step adds simulated Modbus devices (copies of the plant file's Modbus devices, default
``load/plants/fleet.yaml``: one PLC of 10 tags polled every 250 ms) until the step's device
count is reached, restarts the gateway with the grown device list (as a configuration rollout
would), lets it settle for ``--warmup`` seconds, then measures for ``--step-seconds``:

- poll latency: p50/p95/p99/mean of the gateway's ``nexus_gateway_poll_duration_seconds``
  histogram over the window (interpolated inside its buckets, as PromQL does);
- polls per second against the devices' configured rate, missed poll deadlines (ticks skipped
  because a poll overran) and poll errors, from ``gateway.statuses``;
- points per second acknowledged by the broker (an ingest stores them, unless --no-ingest).

The twin and the gateway are asyncio and run in this process; Locust (gevent) cannot host
them, which is why this is not a Locust user class (docs/load-testing.md). A step is *on time*
when no deadline was missed, no poll failed and at least 95 % of the configured polls ran;
``capacity_devices`` is the largest on-time step.

Prints a line per step to stderr and one JSON object on the last line of stdout; writes
``fleet.json`` and ``fleet.csv`` to ``reports/load/fleet-<UTC time>/``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from load.histogram import Histogram, read_histogram
from load.pipeline import Pipeline, PipelineError
from load.target import TargetError
from nexus.errors import ConfigError
from nexus.gateway.config import GatewayConfig
from nexus.gateway.service import Gateway
from nexus.settings import MqttSettings
from simulators.fleet import ModbusFleet
from simulators.plant import Plant, load_plant

log = logging.getLogger("load.fleet")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PLANT = REPO / "load" / "plants" / "fleet.yaml"
POLL_HISTOGRAM = "nexus_gateway_poll_duration_seconds"
PUBLISHED = "nexus_gateway_points_published_total"
ON_TIME_POLL_RATIO = 0.95


@dataclass(frozen=True)
class StepResult:
    devices: int
    tags: int
    seconds: float
    expected_polls_per_s: float
    polls_per_s: float
    poll_p50_ms: float | None
    poll_p95_ms: float | None
    poll_p99_ms: float | None
    poll_mean_ms: float | None
    missed_deadlines: int
    poll_errors: int
    points_per_s: float
    """Points the broker acknowledged per second."""

    @property
    def on_time(self) -> bool:
        return (
            self.missed_deadlines == 0
            and self.poll_errors == 0
            and self.polls_per_s >= ON_TIME_POLL_RATIO * self.expected_polls_per_s
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "on_time": self.on_time}


@dataclass(frozen=True)
class Snapshot:
    at: float
    polls: int
    missed: int
    errors: int
    published: float
    histogram: Histogram


def snapshot(gateway: Gateway) -> Snapshot:
    registry = gateway.metrics.registry
    return Snapshot(
        at=time.monotonic(),
        polls=sum(s.polls for s in gateway.statuses),
        missed=sum(s.missed_deadlines for s in gateway.statuses),
        errors=sum(s.errors for s in gateway.statuses),
        published=registry.get_sample_value(PUBLISHED) or 0.0,
        histogram=read_histogram(registry, POLL_HISTOGRAM),
    )


def measure(gateway: Gateway, before: Snapshot, after: Snapshot) -> StepResult:
    seconds = after.at - before.at
    window = after.histogram - before.histogram
    config = gateway.config

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return StepResult(
        devices=len(config.devices),
        tags=sum(len(d.tags) for d in config.devices),
        seconds=round(seconds, 2),
        expected_polls_per_s=round(sum(1000 / d.poll_interval_ms for d in config.devices), 1),
        polls_per_s=round((after.polls - before.polls) / seconds, 1),
        poll_p50_ms=ms(window.quantile(0.5)),
        poll_p95_ms=ms(window.quantile(0.95)),
        poll_p99_ms=ms(window.quantile(0.99)),
        poll_mean_ms=ms(window.mean),
        missed_deadlines=after.missed - before.missed,
        poll_errors=after.errors - before.errors,
        points_per_s=round((after.published - before.published) / seconds, 1),
    )


def modbus_template(plant: Plant) -> list[dict[str, Any]]:
    """The plant's Modbus device specs, as plant-file data."""
    data = plant.model_dump(mode="json")
    return [
        device
        for site in data["sites"]
        for line in site["lines"]
        for device in line["devices"]
        if device.get("protocol", "modbus") == "modbus"
    ]


def growth(plant: Plant, step: int, devices: int, interval_ms: int | None) -> Plant:
    """A plant of at least ``devices`` copies of ``plant``'s Modbus devices, named for the step
    (``s{step}-...``), on ports the operating system picks."""
    template = modbus_template(plant)
    if not template:
        raise ConfigError("the plant has no Modbus device to copy", field="sites")
    unit = sum(spec.get("count", 1) for spec in template)
    copies = math.ceil(devices / unit)
    specs = []
    for spec in template:
        spec = {**spec, "name": f"s{step}-{spec['name']}", "port": None}
        spec["count"] = spec.get("count", 1) * copies
        if interval_ms is not None:
            spec["poll_interval_ms"] = interval_ms
        specs.append(spec)
    data = plant.model_dump(mode="json")
    data["sites"] = [{"name": "load", "lines": [{"name": "fleet", "devices": specs}]}]
    return Plant.model_validate(data).with_base_port(0)


def parse_steps(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of device counts: {text!r}") from None
    if not steps or any(n < 1 or n > 2000 for n in steps) or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError("device counts must grow, each 1–2000 (e.g. 10,25,50)")
    return steps


async def run_steps(
    mqtt: MqttSettings,
    plant: Plant,
    steps: Sequence[int],
    *,
    step_s: float,
    warmup_s: float,
    interval_ms: int | None = None,
) -> list[StepResult]:
    """Grow the fleet to each step's device count and measure the gateway polling it."""
    results: list[StepResult] = []
    async with AsyncExitStack() as fleets:
        served: list[ModbusFleet] = []
        current = 0
        for index, target in enumerate(steps, start=1):
            fleet = ModbusFleet(growth(plant, index, target - current, interval_ms))
            served.append(await fleets.enter_async_context(fleet))
            devices = [device for f in served for device in f.gateway_config()]
            current = len(devices)
            gateway = Gateway(
                GatewayConfig(devices=devices),
                mqtt=mqtt.model_copy(update={"client_id": f"{mqtt.client_id}-{index}"}),
                gateway_id=mqtt.client_id,
                http_port=None,
            )
            async with gateway:
                await asyncio.sleep(warmup_s)
                before = snapshot(gateway)
                await asyncio.sleep(step_s)
                result = measure(gateway, before, snapshot(gateway))
            results.append(result)
            log.info(
                "%4d devices: %.0f of %.0f polls/s, poll p50 %s ms p95 %s ms, missed %d, "
                "errors %d, %.0f points/s%s",
                result.devices,
                result.polls_per_s,
                result.expected_polls_per_s,
                result.poll_p50_ms,
                result.poll_p95_ms,
                result.missed_deadlines,
                result.poll_errors,
                result.points_per_s,
                "" if result.on_time else "  (late)",
            )
    return results


def write_reports(out: Path, results: Sequence[StepResult], summary: dict[str, Any]) -> None:
    (out / "fleet.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    with (out / "fleet.csv").open("w", newline="", encoding="utf-8") as handle:
        rows = [r.to_dict() for r in results]
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load.fleet", description=__doc__.split("\n")[0])
    p.add_argument(
        "--stack",
        choices=["own", "env"],
        default="own",
        help="own: start a private local stack (default); env: use NEXUS_* variables",
    )
    p.add_argument("--plant", type=Path, default=DEFAULT_PLANT, help="the devices to copy")
    p.add_argument(
        "--steps",
        type=parse_steps,
        default=[10, 25, 50],
        help="device counts, growing (default 10,25,50)",
    )
    p.add_argument("--step-seconds", type=float, default=10.0, help="measuring window per step")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    p.add_argument(
        "--poll-interval-ms",
        type=int,
        default=None,
        help="override the devices' poll interval (100–60000)",
    )
    p.add_argument(
        "--no-ingest",
        action="store_true",
        help="run no ingest (the broker then has no subscriber for the points)",
    )
    p.add_argument("--reports-dir", type=Path, default=REPO / "reports" / "load")
    args = p.parse_args(argv)
    if args.step_seconds <= 0 or args.warmup < 0:
        p.error("--step-seconds must be positive and --warmup not negative")
    return args


async def fleet_load(args: argparse.Namespace) -> dict[str, Any]:
    plant = load_plant(args.plant)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = (args.reports_dir / f"fleet-{stamp}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    async with Pipeline(
        own=args.stack == "own", ingest=not args.no_ingest, log_dir=out
    ) as pipeline:
        t = pipeline.targets
        assert t is not None
        mqtt = MqttSettings(
            host=t.mqtt_host,
            port=t.mqtt_port,
            username=t.mqtt_username,
            password=t.mqtt_password,
            client_id=f"load-fleet-{pipeline.run_id}",
        )
        results = await run_steps(
            mqtt,
            plant,
            args.steps,
            step_s=args.step_seconds,
            warmup_s=args.warmup,
            interval_ms=args.poll_interval_ms,
        )
    on_time = [r.devices for r in results if r.on_time]
    summary = {
        "capacity_devices": max(on_time) if on_time else 0,
        "steps": [r.to_dict() for r in results],
        "reports": str(out),
    }
    write_reports(out, results, summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="load-fleet: %(message)s", stream=sys.stderr)
    logging.getLogger("load").setLevel(logging.INFO)
    try:
        summary = asyncio.run(fleet_load(args))
    except (PipelineError, TargetError, ConfigError) as exc:
        print(f"load-fleet: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("load-fleet: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
