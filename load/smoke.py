"""``make load-smoke``: a short, bounded, headless device-swarm run against a local pipeline.

Starts a private local stack (or uses the NEXUS_* environment with ``--stack env``) and an
ingest, runs Locust headless as a child process (``load/locustfile.py``, a fixed number of
devices for ``--run-time`` seconds), lets the ledger check every acknowledged point against
the historian, and stops everything. Locust's CSV and HTML reports, its log, the ingest's log
and the run summary are written to ``reports/load/smoke-<UTC time>/``.

Prints progress to stderr and one JSON object on the last line of stdout:
``users``, ``points_per_s``, ``publish_p95_ms``, ``e2e_p95_ms``, ``failures``, ``lost``, and
more (``reports`` is the report directory). Exit code 0 when failures = 0, lost = 0 and
points_per_s > 0; 1 otherwise; 2 when the run itself could not be made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from load.pipeline import Pipeline, PipelineError
from load.summary import RunSummary
from load.target import TargetError

log = logging.getLogger("load.smoke")

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "load" / "locustfile.py"
HEADLINE = ("users", "points_per_s", "publish_p95_ms", "e2e_p95_ms", "failures", "lost")
EXIT_FAILED = 1
EXIT_ERROR = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load.smoke", description=__doc__.split("\n")[0])
    p.add_argument(
        "--stack",
        choices=["own", "env"],
        default="own",
        help="own: start a private local stack (default); env: use NEXUS_* variables",
    )
    p.add_argument("--users", type=int, default=50, help="devices (default 50)")
    p.add_argument("--spawn-rate", type=float, default=25.0, help="devices started per second")
    p.add_argument("--run-time", type=float, default=30.0, help="seconds of load (default 30)")
    p.add_argument("--tags", type=int, default=20, help="tags per device (default 20)")
    p.add_argument("--rate", type=float, default=1.0, help="polls per second per device")
    p.add_argument("--form", choices=["batch", "tag"], default="batch", help="payload form")
    p.add_argument(
        "--drain",
        type=float,
        default=15.0,
        help="seconds the ledger waits for acknowledged points to be stored",
    )
    p.add_argument(
        "--no-ingest",
        action="store_true",
        help="run no ingest (nothing is stored: shows the ledger counting losses)",
    )
    p.add_argument("--reports-dir", type=Path, default=REPO / "reports" / "load")
    args = p.parse_args(argv)
    if args.users < 1 or args.run_time <= 0 or args.spawn_rate <= 0:
        p.error("--users, --spawn-rate and --run-time must be positive")
    return args


def locust_command(args: argparse.Namespace, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "--users", str(args.users),
        "--spawn-rate", str(args.spawn_rate),
        "--run-time", f"{round(args.run_time)}s",
        "--stop-timeout", "5",
        "--csv", str(out / "locust"),
        "--html", str(out / "report.html"),
        "--only-summary",
        "--loglevel", "INFO",
    ]  # fmt: skip


def locust_env(args: argparse.Namespace, pipeline_env: dict[str, str], out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "LOCUST_"))}
    env.update(pipeline_env)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "NEXUS_LOAD_TAGS": str(args.tags),
            "NEXUS_LOAD_RATE": str(args.rate),
            "NEXUS_LOAD_FORM": args.form,
            "NEXUS_LOAD_DRAIN": str(args.drain),
            "NEXUS_LOAD_E2E_TIMEOUT": str(min(30.0, args.drain + args.run_time)),
            "NEXUS_LOAD_SUMMARY": str(out / "summary.json"),
        }
    )
    return env


async def run_locust(args: argparse.Namespace, env: dict[str, str], out: Path) -> RunSummary:
    """Locust as a child process; its output goes to locust.log. Killed if it overruns."""
    summary_path = out / "summary.json"
    limit = args.run_time + args.drain + 60
    with (out / "locust.log").open("wb") as output:
        proc = await asyncio.create_subprocess_exec(
            *locust_command(args, out),
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PipelineError(
                f"locust ran longer than {limit:g} s; see {out / 'locust.log'}"
            ) from None
        finally:
            if proc.returncode is None:  # cancelled (Ctrl-C): never leave it running
                proc.kill()
                await proc.wait()
    if not summary_path.exists():
        raise PipelineError(
            f"locust exited with {proc.returncode} and wrote no summary; see {out / 'locust.log'}"
        )
    return RunSummary.read(summary_path)


def result(summary: RunSummary, out: Path) -> dict[str, Any]:
    data = summary.to_dict()
    headline = {key: data.pop(key) for key in HEADLINE}
    return {**headline, **data, "reports": str(out)}


async def smoke(args: argparse.Namespace) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = (args.reports_dir / f"smoke-{stamp}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    log.info("reports in %s", out)
    async with Pipeline(own=args.stack == "own", ingest=not args.no_ingest, log_dir=out) as pipe:
        log.info(
            "locust: %d devices × %d tags × %g polls/s (%s form) for %g s",
            args.users, args.tags, args.rate, args.form, args.run_time,
        )  # fmt: skip
        summary = await run_locust(args, locust_env(args, pipe.env, out), out)
    return result(summary, out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="load-smoke: %(message)s", stream=sys.stderr)
    try:
        data = asyncio.run(smoke(args))
    except (PipelineError, TargetError) as exc:
        print(f"load-smoke: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("load-smoke: interrupted", file=sys.stderr)
        return 130
    passed = data["failures"] == 0 and data["lost"] == 0 and data["points_per_s"] > 0
    print(
        f"load-smoke: {'OK' if passed else 'FAILED'}: {data['users']} devices, "
        f"{data['points_per_s']:g} points/s, publish p95 {data['publish_p95_ms']} ms, "
        f"e2e p95 {data['e2e_p95_ms']} ms, failures {data['failures']}, lost {data['lost']}",
        file=sys.stderr,
    )
    print(json.dumps(data))
    return 0 if passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
