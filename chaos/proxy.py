"""A fault-injecting TCP proxy (asyncio) between two components: latency, jitter, bandwidth,
connection resets and cuts.

    async with LinkProxy("ingest-database", "127.0.0.1", 5432) as proxy:
        dsn_port = proxy.port                     # components connect here
        proxy.set_fault(NetworkSpec(latency_ms=200, jitter_ms=50))
        proxy.set_fault(NetworkSpec(cut=True))    # every connection dropped, new ones refused
        proxy.set_fault(None)                     # healthy again

Bytes keep their order: each direction of a connection has a reader that stamps every chunk
with the time it may be written (now + latency ± jitter, never before the previous chunk) and
a writer that waits for that time; a bounded queue between them is the backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from chaos.scenario import NetworkSpec
from nexus.lifecycle import AsyncService
from nexus.stack.tools import LOOPBACK

logger = logging.getLogger(__name__)

CHUNK = 65536
QUEUE_CHUNKS = 256


class _Connection:
    def __init__(
        self,
        proxy: LinkProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._pipe(self.client[0], self.upstream[1]))
            group.create_task(self._pipe(self.upstream[0], self.client[1]))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        loop = asyncio.get_running_loop()

        async def read() -> None:
            last_due = 0.0
            try:
                while data := await reader.read(CHUNK):
                    spec = self.proxy.fault
                    delay = 0.0
                    if spec is not None:
                        jitter = random.uniform(-spec.jitter_ms, spec.jitter_ms)
                        delay = max(0.0, spec.latency_ms + jitter) / 1000
                    last_due = max(loop.time() + delay, last_due)
                    await queue.put((last_due, data))
            except OSError:
                pass
            await queue.put((0.0, b""))

        async def write() -> None:
            try:
                while True:
                    due, data = await queue.get()
                    if not data:
                        break
                    wait = due - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    await writer.drain()
                    spec = self.proxy.fault
                    if spec is not None and spec.bandwidth_kbps is not None:
                        await asyncio.sleep(len(data) / (spec.bandwidth_kbps * 1000))
                if writer.can_write_eof():
                    writer.write_eof()
            except OSError:
                pass
            finally:
                self.abort()  # one direction is over: so is the connection

        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            group.create_task(write())

    def abort(self) -> None:
        for _, writer in (self.client, self.upstream):
            writer.transport.abort()


class LinkProxy(AsyncService):
    """Listens on 127.0.0.1:`port` and forwards to `upstream_host`:`upstream_port`."""

    def __init__(self, name: str, upstream_host: str, upstream_port: int) -> None:
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.fault: NetworkSpec | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections_total = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("proxy %s: %s:%d → %s:%d", self.name, LOOPBACK, self.port, *self.upstream)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.reset()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def set_fault(self, spec: NetworkSpec | None) -> None:
        """Apply a fault (None: healthy). A cut or a reset drops the open connections."""
        self.fault = spec
        if spec is not None and (spec.cut or spec.reset):
            self.reset()
        logger.info("proxy %s: %s", self.name, spec.describe if spec else "healthy")

    def reset(self) -> None:
        """Abort every open connection (both sides see a reset)."""
        for connection in list(self._connections):
            connection.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.fault is not None and self.fault.cut:
            writer.transport.abort()
            return
        try:
            upstream = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 10)
        except (OSError, TimeoutError):
            writer.transport.abort()  # the far side is down: so is this connection
            return
        connection = _Connection(self, (reader, writer), upstream)
        self._connections.add(connection)
        self.connections_total += 1
        try:
            await connection.run()
        except* OSError:
            pass
        finally:
            self._connections.discard(connection)
            connection.abort()
            for _, w in (connection.client, connection.upstream):
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await w.wait_closed()
