"""Applies a changed device file without a restart; refuses a broken one and keeps the old.

The file is polled for a change of content (a Kubernetes ConfigMap mount is updated by swapping
a symlink, which inotify on the file itself would miss); a change is loaded and validated in
full before anything running is touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from nexus.errors import ConfigError
from nexus.gateway.config import GatewayConfig

log = logging.getLogger(__name__)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ConfigWatcher:
    def __init__(
        self,
        path: Path,
        apply: Callable[[GatewayConfig], Awaitable[None]],
        *,
        interval_s: float = 2.0,
    ) -> None:
        self.path = path
        self._apply = apply
        self._interval_s = interval_s
        self._digest = _digest(path)
        self.applied = 0
        self.refused = 0
        self.last_error: str | None = None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check()

    async def check(self) -> bool:
        """Load the file if its content changed; True when a new configuration was applied."""
        digest = _digest(self.path)
        if digest is None or digest == self._digest:
            return False
        self._digest = digest
        try:
            config = GatewayConfig.load(self.path)
        except ConfigError as exc:
            self.refused += 1
            self.last_error = str(exc)
            log.error("refused the changed device file, keeping the running one: %s", exc)
            return False
        await self._apply(config)
        self.applied += 1
        self.last_error = None
        log.info("applied the changed device file %s: %d devices", self.path, len(config.devices))
        return True
