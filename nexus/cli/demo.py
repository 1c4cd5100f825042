"""`nexus demo`: the end-to-end demo on the local stack."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from nexus.cli.main import EXIT_FAILED, EXIT_OK


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nexus.demo import DEFAULT_PLANT

    demo = subparsers.add_parser("demo", help="run a simulated plant end to end on the local stack")
    demo.add_argument("--plant", type=Path, default=DEFAULT_PLANT, help="plant file (YAML)")
    demo.add_argument(
        "--duration", type=float, default=30.0, help="seconds of polling (default 30)"
    )
    demo.add_argument(
        "--run-dir",
        type=Path,
        default=Path(".run/stack"),
        help="where the local stack keeps its data (default .run/stack)",
    )
    demo.add_argument(
        "--json", action="store_true", help="print the summary as JSON on the last line"
    )
    demo.set_defaults(func=_run)


def _log_to_file(path: Path) -> Path:
    """The live view owns the terminal: service logs go to a file, warnings still show."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    file_handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root.addHandler(file_handler)
    return path


def _run(args: argparse.Namespace) -> int:
    from nexus.demo import print_summary, run_demo

    if args.duration <= 0:
        print("nexus demo: --duration must be positive", file=sys.stderr)
        return 2
    log_file = _log_to_file(args.run_dir.resolve().parent / "demo.log")
    print(f"logs of every service: {log_file}", file=sys.stderr)
    summary = asyncio.run(
        run_demo(
            plant_path=args.plant,
            duration_s=args.duration,
            run_dir=args.run_dir,
            out=sys.stderr,
            live=sys.stderr.isatty(),
        )
    )
    print_summary(summary, sys.stderr if args.json else sys.stdout)
    hint = (
        f"\nThe data stays in {args.run_dir}. To query it:\n"
        f'  eval "$(.venv/bin/nexus stack up --run-dir {args.run_dir})"\n'
        '  psql "$NEXUS_DB_DSN" -c "SELECT topic, count(*), avg(value) FROM metrics GROUP BY topic'
        ' ORDER BY topic LIMIT 20"\n'
        '  psql "$NEXUS_DB_DSN" -c "SELECT * FROM metrics_1min ORDER BY bucket DESC LIMIT 20"\n'
        f"  .venv/bin/nexus stack down --run-dir {args.run_dir}\n"
    )
    (sys.stderr if args.json else sys.stdout).write(hint)
    if args.json:
        print(json.dumps(summary.as_dict()))
    return EXIT_OK if summary.ok else EXIT_FAILED
