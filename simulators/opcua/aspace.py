"""The OPC UA standard address space, built once per process and shared by every twin server.

asyncua builds the standard address space (namespace 0, ~14,000 nodes) for every `Server`:
about 1.4 s and 39 MB each. asyncua's own cache, ``Server.init(shelf_file=...)``, stores it in
a `shelve`; on this Python (no gdbm, so dbm.dumb) a server then takes ~1.9 s to initialise,
slower than without the cache (measured). Instead, the nodes are pickled one by one into a
dict kept in memory (and in a cache file, so the next process skips the build); each server
unpickles a node the first time it touches it, so servers share nothing mutable and a new
server costs a few milliseconds and ~100 KB.
"""

from __future__ import annotations

import collections.abc
import logging
import os
import pickle
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from asyncua import ua
from asyncua.server.address_space import NodeData
from asyncua.server.internal_server import InternalServer

log = logging.getLogger(__name__)

_shared: dict[ua.NodeId, bytes] | None = None


def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "nexus-edge" / f"asyncua-{version('asyncua')}-standard-nodes.pickle"


async def shared_standard_nodes() -> dict[ua.NodeId, bytes]:
    """Every standard node pickled, by node id (built or loaded once per process)."""
    global _shared
    if _shared is None:
        began = time.perf_counter()
        path = cache_path()
        nodes = _load(path)
        if nodes is None:
            nodes = await _build()
            _store(path, nodes)
        _shared = nodes
        log.info(
            "OPC UA standard address space ready: %d nodes (%.2f s)",
            len(nodes),
            time.perf_counter() - began,
        )
    return _shared


def _load(path: Path) -> dict[ua.NodeId, bytes] | None:
    try:
        with path.open("rb") as f:
            nodes = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return nodes if isinstance(nodes, dict) else None


async def _build() -> dict[ua.NodeId, bytes]:
    server = InternalServer()
    await server.load_standard_address_space()
    return {
        nodeid: pickle.dumps(node, pickle.HIGHEST_PROTOCOL)
        for nodeid, node in server.aspace._nodes.items()
    }


def _store(path: Path, nodes: dict[ua.NodeId, bytes]) -> None:
    """Write the cache atomically (parallel test runs may build it at the same time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(nodes, f, pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot cache the OPC UA standard address space in %s: %s", path, exc)


class CopyOnAccessNodes(collections.abc.MutableMapping[ua.NodeId, NodeData]):
    """A server's nodes: its own, plus standard nodes copied from the shared ones when used."""

    def __init__(self, source: dict[ua.NodeId, bytes]) -> None:
        self._source = source
        self._own: dict[ua.NodeId, NodeData] = {}

    def __getitem__(self, key: ua.NodeId) -> NodeData:
        try:
            return self._own[key]
        except KeyError:
            blob = self._source[key]  # KeyError if unknown, as a dict
            node: NodeData = pickle.loads(blob)
            self._own[key] = node
            return node

    def __setitem__(self, key: ua.NodeId, value: NodeData) -> None:
        self._own[key] = value

    def __delitem__(self, key: ua.NodeId) -> None:
        del self._own[key]

    def __contains__(self, key: object) -> bool:
        return key in self._own or key in self._source

    def __iter__(self) -> Iterator[ua.NodeId]:
        return iter(self._own)

    def __len__(self) -> int:
        return len(self._own)


class SharedSpaceInternalServer(InternalServer):  # type: ignore[misc]  # asyncua is Any
    """An asyncua internal server whose standard address space comes from the shared copy."""

    def __init__(self, source: dict[ua.NodeId, bytes]) -> None:
        super().__init__()
        self._source = source

    async def load_standard_address_space(self, shelf_file: Path | None = None) -> None:
        # asyncua types _nodes as a dict; its own shelf loader puts a mapping there too
        self.aspace._nodes = CopyOnAccessNodes(self._source)
