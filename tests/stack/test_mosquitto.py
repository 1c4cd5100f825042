"""The private Mosquitto broker: credentials, QoS 1 delivery, deep queues, clean stops."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus.errors import StackError
from nexus.stack.mosquitto import Mosquitto, mqtt_probe
from nexus.stack.process import pid_alive
from tests.stack.helpers import MqttTestClient, all_gone, processes_with

pytestmark = pytest.mark.integration


def client(mq: Mosquitto, client_id: str, **kwargs: object) -> MqttTestClient:
    options: dict[str, object] = {"username": mq.username, "password": mq.password}
    options.update(kwargs)
    return MqttTestClient(mq.host, mq.port, client_id, **options)  # type: ignore[arg-type]


async def test_publish_and_receive_qos1(run_dir: Path) -> None:
    async with Mosquitto(run_dir) as mq:
        assert mq.url == f"mqtt://{mq.username}:{mq.password}@127.0.0.1:{mq.port}"
        sub, pub = client(mq, "sub"), client(mq, "pub")
        try:
            assert await asyncio.to_thread(sub.connect)
            await asyncio.to_thread(sub.subscribe, "plant/#")
            assert await asyncio.to_thread(pub.connect)
            await asyncio.to_thread(pub.publish_many, "plant/line1/temp", [b"21.5"])
            assert await asyncio.to_thread(sub.receive, 1) == [b"21.5"]
        finally:
            await asyncio.to_thread(sub.close)
            await asyncio.to_thread(pub.close)


@pytest.mark.parametrize(
    ("username", "password"), [("nexus", "wrong"), ("intruder", "wrong"), (None, None)]
)
async def test_wrong_credentials_are_refused(
    run_dir: Path, username: str | None, password: str | None
) -> None:
    async with Mosquitto(run_dir) as mq:
        intruder = client(mq, "intruder", username=username, password=password)
        try:
            assert not await asyncio.to_thread(intruder.connect)
        finally:
            await asyncio.to_thread(intruder.close)
        with pytest.raises(StackError, match="refused"):
            await mqtt_probe(mq.host, mq.port, mq.username, "wrong")


async def queue_for_offline_subscriber(mq: Mosquitto, client_id: str, count: int) -> list[bytes]:
    """Subscribe a persistent session, disconnect it, publish `count` QoS 1 messages."""
    sub = client(mq, client_id, clean_session=False)
    assert await asyncio.to_thread(sub.connect)
    await asyncio.to_thread(sub.subscribe, "queued/#")
    await asyncio.to_thread(sub.close)
    payloads = [f"message {i}".encode() for i in range(count)]
    pub = client(mq, f"{client_id}-publisher")
    try:
        assert await asyncio.to_thread(pub.connect)
        await asyncio.to_thread(pub.publish_many, "queued/data", payloads)
    finally:
        await asyncio.to_thread(pub.close)
    return payloads


async def receive_queued(mq: Mosquitto, client_id: str, count: int) -> list[bytes]:
    sub = client(mq, client_id, clean_session=False)
    try:
        assert await asyncio.to_thread(sub.connect)
        assert sub.session_present
        return await asyncio.to_thread(sub.receive, count)
    finally:
        await asyncio.to_thread(sub.close)


async def test_offline_persistent_subscriber_gets_every_message(run_dir: Path) -> None:
    # 5,000 > Mosquitto's default max_queued_messages (1,000): proves the limit was raised.
    async with Mosquitto(run_dir) as mq:
        payloads = await queue_for_offline_subscriber(mq, "ingest", 5000)
        assert await receive_queued(mq, "ingest", 5000) == payloads


async def test_queued_messages_survive_a_broker_restart(run_dir: Path) -> None:
    async with Mosquitto(run_dir) as mq:
        payloads = await queue_for_offline_subscriber(mq, "ingest", 200)
        port = mq.port
        await mq.stop()
        assert not mq.running()
        await mq.start()
        assert mq.port == port
        assert await receive_queued(mq, "ingest", 200) == payloads


async def test_config_and_password_file_are_private(run_dir: Path) -> None:
    async with Mosquitto(run_dir) as mq:
        for path in (mq.conf_path, run_dir / "passwd"):
            assert path.stat().st_mode & 0o777 == 0o600
        conf = mq.conf_path.read_text()
        assert "max_queued_messages 1000000" in conf
        assert "allow_anonymous false" in conf
        assert mq.password not in conf
        assert mq.password not in (run_dir / "passwd").read_text()


async def test_no_process_remains_after_exit_even_on_error(run_dir: Path) -> None:
    mq = Mosquitto(run_dir)

    async def fail_inside() -> None:
        async with mq:
            assert mq.pid is not None
            assert pid_alive(mq.pid)
            pids.add(mq.pid)
            raise RuntimeError("boom")

    pids: set[int] = set()
    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert len(pids) == 1
    assert all_gone(pids)
    assert processes_with(str(run_dir)) == set()


async def test_port_already_taken_is_a_clear_error(run_dir: Path, busy_port: int) -> None:
    with pytest.raises(StackError, match="mosquitto exited") as caught:
        async with Mosquitto(run_dir, port=busy_port):
            pass
    assert "Address already in use" in str(caught.value)
    assert processes_with(str(run_dir)) == set()
