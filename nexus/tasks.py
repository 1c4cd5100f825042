"""Supervised background tasks: a task that ends while it should run is never silent.

asyncio keeps a failed task's exception until somebody awaits the task, which for a service's
background work is at shutdown, if ever; until then the service looks alive and does nothing.
`supervise` logs such an end at once, with the traceback, and hands it to the owner, which
decides: restart the work (a device's poller) or fail the service (the orchestrator restarts it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def end_reason(task: asyncio.Task[Any]) -> str:
    """How `task` ended: "cancelled", the exception's repr, or "returned"."""
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return repr(exc) if exc is not None else "returned"


def supervise(
    task: asyncio.Task[Any],
    on_end: Callable[[asyncio.Task[Any], str], None],
    *,
    expected: Callable[[], bool],
) -> None:
    """Call `on_end(task, reason)` when `task` ends and `expected()` is false at that moment.

    `expected` says whether an end is normal now (the owner is stopping it). An unexpected end
    is logged at CRITICAL with the exception's traceback before `on_end` runs.
    """

    def done(finished: asyncio.Task[Any]) -> None:
        if expected():
            return
        exc = None if finished.cancelled() else finished.exception()
        log.critical(
            "task %s ended unexpectedly: %s",
            finished.get_name(),
            end_reason(finished),
            exc_info=exc,
        )
        on_end(finished, end_reason(finished))

    task.add_done_callback(done)


async def wait_stop_or_failure(stop: asyncio.Event, failed: asyncio.Event) -> None:
    """Return when `stop` (a signal) or `failed` (the service gave up) is set."""
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(failed.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
