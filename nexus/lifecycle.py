"""The one shape of every long-lived object: ``start``, ``stop``, and ``async with``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncService:
    """``async with service:`` starts it and stops it on any exit (error, cancellation, Ctrl-C).

    Subclasses implement ``start`` (return only when really ready) and ``stop`` (idempotent).
    """

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
