"""The fault-injecting TCP proxy against a local echo server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from chaos.proxy import LinkProxy
from chaos.scenario import NetworkSpec


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[LinkProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with LinkProxy("test", "127.0.0.1", port) as link:
        yield link
    server.close()
    await server.wait_closed()


async def roundtrip(
    link: LinkProxy, payload: bytes
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", link.port)
    writer.write(payload)
    await writer.drain()
    data = await asyncio.wait_for(reader.readexactly(len(payload)), 30)
    return data, reader, writer


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the proxy ended the connection (an EOF or a reset, whichever arrives)."""
    try:
        return await asyncio.wait_for(reader.read(), 30) == b""
    except ConnectionResetError:
        return True


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def test_forwards_bytes_in_order_with_latency_and_jitter(proxy: LinkProxy) -> None:
    proxy.set_fault(NetworkSpec(latency_ms=20, jitter_ms=15))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    sent = b"".join(i.to_bytes(4, "big") for i in range(2000))
    for start in range(0, len(sent), 100):  # many small chunks, each with its own delay
        writer.write(sent[start : start + 100])
        await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(sent)), 30) == sent
    await close(writer)


async def test_bandwidth_limit_still_delivers_everything(proxy: LinkProxy) -> None:
    proxy.set_fault(NetworkSpec(bandwidth_kbps=500))
    data, _, writer = await roundtrip(proxy, bytes(range(256)) * 200)
    assert data == bytes(range(256)) * 200
    await close(writer)


async def test_a_cut_drops_connections_and_refuses_new_ones_until_healed(
    proxy: LinkProxy,
) -> None:
    _, reader, writer = await roundtrip(proxy, b"hello")
    proxy.set_fault(NetworkSpec(cut=True))
    assert await closed(reader)  # the open connection is gone
    await close(writer)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert await closed(reader)  # and a new one is refused
    await close(writer)
    proxy.set_fault(None)
    data, _, writer = await roundtrip(proxy, b"again")
    assert data == b"again"
    assert proxy.open_connections == 1
    await close(writer)


async def test_reset_aborts_open_connections_once(proxy: LinkProxy) -> None:
    _, reader, writer = await roundtrip(proxy, b"one")
    proxy.set_fault(NetworkSpec(reset=True))
    assert await closed(reader)
    await close(writer)
    data, _, writer = await roundtrip(proxy, b"two")  # a reset is not a cut
    assert data == b"two"
    await close(writer)
