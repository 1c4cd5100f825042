"""Running the load programs as child processes, as a developer or CI does.

Locust monkey-patches the standard library with gevent when it is imported, so it never runs
inside pytest's process: every Locust run here is a child process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus.stack.local import StackInfo

REPO = Path(__file__).resolve().parents[2]
RUN_LIMIT_S = 120.0
"""A bound on a child's life (never an assertion on its speed)."""


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        """The JSON object on the last line of stdout."""
        lines = self.stdout.strip().splitlines()
        assert lines, f"no output; stderr:\n{self.stderr[-3000:]}"
        data: dict[str, Any] = json.loads(lines[-1])
        return data


def child_env(stack: StackInfo | None, **extra: str) -> dict[str, str]:
    """This environment without NEXUS_*/LOCUST_* settings, plus the stack's and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "LOCUST_"))}
    if stack is not None:
        env.update(stack.to_env())
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


async def run(argv: list[str], env: dict[str, str]) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_LIMIT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
