"""`python -m chaos.kubernetes`: the chaos scenarios against the kind overlay (`make chaos`).

    python -m chaos.kubernetes [SCENARIO.yaml ...] [--context CTX] [--namespace nexus]
                               [--report-dir DIR] [--ledger-dir DIR] [--scale X] [--keep]
                               [--kubectl PATH]

Without files: every scenarios/kind/*.yaml. Each scenario writes the local runner's report
(result.json, report.html, chaos/report.py) plus hpa.json (the HPAs' replica series) into
REPORT_DIR/<scenario>-<time>/; REPORT_DIR/summary.json lists every scenario's status. A
scenario with a fault this target cannot inject (pause, latency, …) is not run: its status is
"unsupported", with the reason.

--keep leaves the HPA floors and the gateway replicas as the last run left them (cut links are
healed and port-forwards closed whatever it is).

Exit status: 0 every scenario passed; 1 one failed, errored or is unsupported here; 2 a file or
an option is invalid, or the cluster is not reachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chaos.engine import Sample, progress_line, run_scenario
from chaos.errors import TargetError, TargetUnavailable
from chaos.kubernetes.kubectl import Kubectl
from chaos.kubernetes.target import (
    DEFAULT_LEDGER_DIR,
    LEDGER_DIR_ENV,
    KubernetesTarget,
    unsupported,
)
from chaos.report import write_report
from chaos.scenario import Scenario, load_scenario, scale_from_env
from nexus.errors import ConfigError

logger = logging.getLogger("chaos.kubernetes")

KIND_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "kind"
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


@dataclass
class Entry:
    scenario: str
    status: str  # passed | failed | unsupported | error
    report: str | None = None
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "status": self.status,
            "report": self.report,
            "reasons": self.reasons,
        }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m chaos.kubernetes",
        description="chaos scenarios against NEXUS Edge on Kubernetes (the kind overlay)",
    )
    p.add_argument("files", type=Path, nargs="*", help="default: scenarios/kind/*.yaml")
    p.add_argument("--context", help="kubectl context (default: the current one)")
    p.add_argument("--namespace", default="nexus")
    p.add_argument("--kubectl", default="kubectl", help="the kubectl binary (default: on PATH)")
    p.add_argument(
        "--report-dir",
        "--report",
        dest="report_dir",
        type=Path,
        default=Path("reports") / "chaos-kind",
        help="default: reports/chaos-kind",
    )
    p.add_argument(
        "--ledger-dir",
        type=Path,
        default=Path(os.environ.get(LEDGER_DIR_ENV, str(DEFAULT_LEDGER_DIR))),
        help=f"the gateways' ledgers as the kind nodes mount them (env {LEDGER_DIR_ENV})",
    )
    p.add_argument("--scale", type=float, help="time scale (default: NEXUS_SCENARIO_SCALE or 1)")
    p.add_argument("--keep", action="store_true", help="leave HPA floors and gateways as run")
    p.add_argument("--log-level", default="INFO")
    return p


def _progress(name: str) -> Callable[[Sample], None]:
    def show(sample: Sample) -> None:
        print(progress_line(sample, prefix=f"{name} "), file=sys.stderr, flush=True)

    return show


async def run_one(scenario: Scenario, args: argparse.Namespace, kubectl: Kubectl) -> Entry:
    problems = unsupported(scenario)
    if problems:
        return Entry(scenario.name, "unsupported", reasons=[str(p) for p in problems])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = args.report_dir / f"{scenario.name}-{stamp}"
    target = KubernetesTarget(
        scenario, kubectl, ledger_dir=args.ledger_dir.resolve(), restore=not args.keep
    )
    try:
        result = await run_scenario(scenario, target, on_sample=_progress(scenario.name))
    finally:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hpa.json").write_text(
            json.dumps(target.hpa_series_json(), indent=1) + "\n", encoding="utf-8"
        )
    _, html_path = write_report(result, directory)
    status = "passed" if result.passed else "failed"
    return Entry(scenario.name, status, str(html_path), list(result.failures))


async def run_all(scenarios: list[Scenario], args: argparse.Namespace) -> list[Entry]:
    kubectl = Kubectl(namespace=args.namespace, context=args.context, binary=args.kubectl)
    entries: list[Entry] = []
    for scenario in scenarios:
        try:
            entry = await run_one(scenario, args, kubectl)
        except TargetUnavailable:
            raise
        except TargetError as exc:
            entry = Entry(scenario.name, "error", reasons=[str(exc)])
        entries.append(entry)
        print(f"scenario {entry.scenario}: {entry.status}", flush=True)
        for reason in entry.reasons:
            print(f"  ! {reason}", flush=True)
        if entry.report is not None:
            print(f"  report: {entry.report}", flush=True)
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in ("aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    files = list(args.files) or sorted(KIND_SCENARIOS.glob("*.yaml"))
    if not files:
        print(f"chaos.kubernetes: no scenario files in {KIND_SCENARIOS}", file=sys.stderr)
        return EXIT_INVALID
    try:
        scale = args.scale if args.scale is not None else scale_from_env()
        scenarios = [load_scenario(path, scale=scale) for path in files]
    except ConfigError as exc:
        print(f"chaos.kubernetes: invalid scenario: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        entries = asyncio.run(run_all(scenarios, args))
    except TargetUnavailable as exc:
        print(f"chaos.kubernetes: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("chaos.kubernetes: interrupted", file=sys.stderr)
        return 130
    args.report_dir.mkdir(parents=True, exist_ok=True)
    summary = args.report_dir / "summary.json"
    summary.write_text(
        json.dumps([e.to_json() for e in entries], indent=1) + "\n", encoding="utf-8"
    )
    print(f"summary: {summary}", flush=True)
    passed = all(e.status == "passed" for e in entries)
    return EXIT_OK if passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
