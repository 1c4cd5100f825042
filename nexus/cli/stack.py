"""`nexus stack up|down`: a detached local stack for a developer's shell.

`up` starts Mosquitto and PostgreSQL in the background and prints `export NEXUS_...=...`
lines, so `eval "$(nexus stack up)"` configures the shell; `down` stops them again. Both are
idempotent: `up` on a running stack prints its settings, `down` on a stopped one says so.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from nexus.stack.local import DEFAULT_RUN_DIR
from nexus.stack.state import (
    StackState,
    read_state,
    remove_state,
    start_detached,
    stop_detached,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `stack up` and `stack down` to the `nexus` command line."""
    parser = subparsers.add_parser(
        "stack",
        help="run Mosquitto and PostgreSQL locally",
        description="Run a private Mosquitto and PostgreSQL on loopback ports.",
    )
    actions = parser.add_subparsers(dest="stack_command", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="start the stack in the background, print its settings")
    _add_run_dir(up)
    up.add_argument(
        "--fast",
        action="store_true",
        help="turn PostgreSQL's fsync off (faster; data may be lost on a crash)",
    )
    up.set_defaults(func=stack_up)

    down = actions.add_parser("down", help="stop the stack started by `stack up`")
    _add_run_dir(down)
    down.set_defaults(func=stack_down)


def _add_run_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help=f"directory for the services' files (default: {DEFAULT_RUN_DIR})",
    )


def _print_state(state: StackState, headline: str) -> None:
    """Shell-evaluable output: exports, then comments."""
    for name, value in state.info.to_env().items():
        print(f"export {name}={shlex.quote(value)}")
    run_dir = shlex.quote(str(state.info.run_dir))
    print(f"# {headline} in {state.info.run_dir}")
    print(f"# mosquitto pid {state.mosquitto_pid}, postgres pid {state.postgres_pid}")
    print(f"# stop it with: nexus stack down --run-dir {run_dir}")


def stack_up(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    state = read_state(run_dir)
    if state is not None:
        if state.running():
            _print_state(state, "stack already running")
            return 0
        print(f"nexus: stack in {run_dir} is half dead; restarting it", file=sys.stderr)
        asyncio.run(stop_detached(state))
        remove_state(run_dir)
    state = asyncio.run(start_detached(run_dir, fast=bool(args.fast)))
    _print_state(state, "stack running")
    return 0


def stack_down(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    state = read_state(run_dir)
    if state is None:
        print(f"no stack running in {run_dir}")
        return 0
    asyncio.run(stop_detached(state))
    remove_state(run_dir)
    print(f"stopped the stack in {run_dir}")
    return 0
