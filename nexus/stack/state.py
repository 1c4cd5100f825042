"""A detached stack (`nexus stack up`) and its state file, RUN_DIR/stack.json.

The services of a detached stack outlive the command that started them, so everything
needed to reach and to stop them is written down: the connection info (mode 0600, it holds
passwords) and each service's pid with a marker (its config file or data directory) that
must appear in the process's command line, so that a recycled pid is never signalled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nexus.errors import StackError
from nexus.stack.local import LocalStack, StackInfo
from nexus.stack.process import DetachedProcess
from nexus.stack.tools import write_private

logger = logging.getLogger(__name__)

STATE_FILE = "stack.json"
STATE_VERSION = 1
MQTT_STOP_TIMEOUT = 10.0
DB_STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class StackState:
    """A detached stack: connection info plus what identifies its two processes."""

    info: StackInfo
    mosquitto_pid: int
    mosquitto_marker: str
    postgres_pid: int
    postgres_marker: str

    def processes(self) -> tuple[DetachedProcess, DetachedProcess]:
        return (
            DetachedProcess("mosquitto", self.mosquitto_pid, self.mosquitto_marker),
            DetachedProcess("postgres", self.postgres_pid, self.postgres_marker),
        )

    def running(self) -> bool:
        """Whether both services still run (a half-dead stack is not usable)."""
        return all(process.running() for process in self.processes())

    def to_json(self) -> str:
        info = asdict(self.info) | {"run_dir": str(self.info.run_dir)}
        data = {
            "version": STATE_VERSION,
            "info": info,
            "env": self.info.to_env(),
            "mosquitto": {"pid": self.mosquitto_pid, "marker": self.mosquitto_marker},
            "postgres": {"pid": self.postgres_pid, "marker": self.postgres_marker},
        }
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data: dict[str, Any] = json.loads(text)
        info = dict(data["info"])
        info["run_dir"] = Path(info["run_dir"])
        return cls(
            info=StackInfo(**info),
            mosquitto_pid=int(data["mosquitto"]["pid"]),
            mosquitto_marker=str(data["mosquitto"]["marker"]),
            postgres_pid=int(data["postgres"]["pid"]),
            postgres_marker=str(data["postgres"]["marker"]),
        )


def state_path(run_dir: Path) -> Path:
    return run_dir / STATE_FILE


def read_state(run_dir: Path) -> StackState | None:
    """The state of the stack in `run_dir`, or None if no stack.json exists."""
    path = state_path(run_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return StackState.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise StackError(f"{path} is not a valid stack state file ({exc}); remove it") from exc


def remove_state(run_dir: Path) -> None:
    state_path(run_dir).unlink(missing_ok=True)


async def start_detached(run_dir: Path, *, fast: bool = False) -> StackState:
    """Start a stack that outlives this process, and record it in RUN_DIR/stack.json."""
    stack = LocalStack(run_dir, fast=fast, detached=True)
    info = await stack.start()
    try:
        mosquitto_pid, postgres_pid = stack.mosquitto.pid, stack.postgres.pid
        if mosquitto_pid is None or postgres_pid is None:
            raise StackError("the stack started but a service has no pid")
        state = StackState(
            info=info,
            mosquitto_pid=mosquitto_pid,
            mosquitto_marker=str(stack.mosquitto.conf_path),
            postgres_pid=postgres_pid,
            postgres_marker=str(stack.postgres.data_dir),
        )
        write_private(state_path(stack.run_dir), state.to_json())
    except BaseException:
        await stack.stop()
        raise
    return state


async def stop_detached(state: StackState) -> None:
    """Stop both services: SIGTERM to Mosquitto, SIGINT (fast shutdown) to PostgreSQL."""
    mosquitto, postgres = state.processes()
    await asyncio.gather(
        mosquitto.stop(signal.SIGTERM, MQTT_STOP_TIMEOUT),
        postgres.stop(signal.SIGINT, DB_STOP_TIMEOUT),
    )
    logger.info("stopped stack in %s", state.info.run_dir)
