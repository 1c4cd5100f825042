"""`nexus scenario run FILE`: play a fault scenario on the local target and check the ledger.

`--target containers` (or NEXUS_SCENARIO_TARGET=containers) runs EMQX and TimescaleDB in Docker
containers instead of the local Mosquitto and PostgreSQL (chaos/containers.py); without Docker
it exits 2 with one line saying what is missing.

Prints one progress line per second (elapsed, points published and stored, faults in effect)
on stderr; with --json the result is one JSON object on the last line of stdout. Exit code 0
when every expectation holds, 1 when one does not, 2 when the file is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaos.engine import Sample


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scenario = subparsers.add_parser("scenario", help="fault scenarios checked by the ledger")
    commands = scenario.add_subparsers(dest="scenario_command", required=True)
    run = commands.add_parser("run", help="run one scenario file on the local target")
    run.add_argument("file", type=Path, help="scenarios/*.yaml")
    run.add_argument("--json", action="store_true", help="print the result as JSON (last line)")
    run.add_argument(
        "--scale",
        type=float,
        help="time scale of the timeline (default: env NEXUS_SCENARIO_SCALE, else 1)",
    )
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="default: reports/")
    run.add_argument(
        "--target",
        choices=("local", "containers"),
        help="where the broker and the database run (default: env NEXUS_SCENARIO_TARGET, "
        "else local; containers: EMQX and TimescaleDB in Docker)",
    )
    run.set_defaults(func=run_scenario_file)
    check = commands.add_parser("check", help="validate scenario files and exit")
    check.add_argument("files", type=Path, nargs="+")
    check.set_defaults(func=check_files)


def _progress(sample: Sample) -> None:
    from chaos.engine import progress_line

    print(progress_line(sample), file=sys.stderr, flush=True)


def run_scenario_file(args: argparse.Namespace) -> int:
    from chaos.runner import run_local_sync, target_name, unavailable
    from chaos.scenario import load_scenario, scale_from_env

    scale = args.scale if args.scale is not None else scale_from_env()
    scenario = load_scenario(args.file, scale=scale)
    target = target_name(args.target)
    reason = unavailable(target)
    if reason is not None:
        print(f"nexus scenario run: {reason}", file=sys.stderr)
        return 2
    for name in ("pymodbus", "aiohttp.access"):  # a line per connection otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    outcome = run_local_sync(
        scenario, report_dir=args.report_dir, on_sample=_progress, target=target
    )
    result = outcome.result
    if args.json:
        print(json.dumps(result.summary()))
    else:
        verdict = "passed" if result.passed else "FAILED"
        print(f"scenario {result.scenario}: {verdict}")
        for key, value in result.summary().items():
            print(f"  {key:16} {value}")
        for failure in result.failures:
            print(f"  ! {failure}")
        print(f"  report           {outcome.html_path}")
    return 0 if result.passed else 1


def check_files(args: argparse.Namespace) -> int:
    from chaos.scenario import load_scenario

    for path in args.files:
        scenario = load_scenario(path)
        print(f"{path}: ok, {scenario.duration_s:g}s, {len(scenario.faults())} faults")
    return 0
