from __future__ import annotations

from pathlib import Path

from nexus.gateway.config import GatewayConfig
from nexus.gateway.reload import ConfigWatcher

GOOD = """\
devices:
  - name: {name}
    site: s
    line: l
    port: 5020
    tags: [{{name: t, address: 0}}]
"""


async def test_a_changed_file_is_applied_and_a_broken_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(GOOD.format(name="press-01"))
    applied: list[GatewayConfig] = []

    async def apply(config: GatewayConfig) -> None:
        applied.append(config)

    watcher = ConfigWatcher(path, apply)
    assert not await watcher.check()  # unchanged
    path.write_text(GOOD.format(name="press-02"))
    assert await watcher.check()
    assert [d.name for d in applied[-1].devices] == ["press-02"]
    path.write_text(GOOD.format(name="press 03"))  # a space: not a valid name
    assert not await watcher.check()
    assert watcher.refused == 1
    assert watcher.last_error is not None
    assert "devices[0].name" in watcher.last_error
    assert len(applied) == 1
