"""The one shape of every long-lived object: ``start``, ``stop``, and ``async with``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncService:
    """``async with service:`` starts it and stops it on any exit (error, cancellation, Ctrl-C).

    Subclasses implement ``start`` (return only when really ready) and ``stop`` (idempotent, and
    safe after a start that failed half-way: it is called then too, so nothing is left running).
    """

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
