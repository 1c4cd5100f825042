"""Helpers for the stack tests: process inspection, polling, and a small MQTT client."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from nexus.stack.process import pid_alive


def descendants(pid: int) -> set[int]:
    """The pids of all processes below `pid` (e.g. PostgreSQL's backends), from /proc."""
    children: dict[int, set[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, set()).add(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), set()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def processes_with(marker: str) -> set[int]:
    """Live processes whose command line contains `marker` (e.g. a run directory)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and pid_alive(int(entry)):
            found.add(int(entry))
    return found


async def wait_until(
    condition: Callable[[], bool], within: float = 10.0, what: str = "condition"
) -> None:
    """Poll `condition` with a short backoff until it holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    delay = 0.01
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


def all_gone(pids: set[int]) -> bool:
    return not any(pid_alive(pid) for pid in pids)


class MqttTestClient:
    """A paho-mqtt 2.x client (MQTT 3.1.1) driven from tests: connect, subscribe, publish.

    paho runs its network loop in a thread; the blocking waits here are meant to be called
    through asyncio.to_thread from async tests.
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None,
        password: str | None,
        clean_session: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            reconnect_on_failure=False,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: threading.Event = threading.Event()
        self.reason: Any = None
        self.session_present = False
        self.disconnected = threading.Event()
        self.subscribed = threading.Event()
        self.messages: queue.Queue[bytes] = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.reason = reason
        self.session_present = bool(flags.session_present)
        self.connack.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.disconnected.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self.messages.put(message.payload)

    def connect(self, timeout: float = 10.0) -> bool:
        """Connect and wait for the CONNACK; True if the broker accepted us."""
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.connack.wait(timeout):
            raise TimeoutError("no CONNACK")
        return not self.reason.is_failure

    def subscribe(self, topic: str, timeout: float = 10.0) -> None:
        self.client.subscribe(topic, qos=1)
        if not self.subscribed.wait(timeout):
            raise TimeoutError("no SUBACK")

    def publish_many(self, topic: str, payloads: list[bytes], timeout: float = 60.0) -> None:
        """Publish QoS 1 messages and wait until the broker acknowledged every one."""
        infos = [self.client.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            info.wait_for_publish(timeout)
            if not info.is_published():
                raise TimeoutError("message not acknowledged")

    def receive(self, count: int, timeout: float = 60.0) -> list[bytes]:
        """The next `count` messages, in arrival order."""
        deadline = time.monotonic() + timeout
        received = []
        for _ in range(count):
            received.append(self.messages.get(timeout=max(0.0, deadline - time.monotonic())))
        return received

    def close(self, timeout: float = 10.0) -> None:
        """Disconnect cleanly (the broker keeps a persistent session) and stop the loop."""
        if self.connack.is_set() and not self.reason.is_failure:
            self.client.disconnect()
            self.disconnected.wait(timeout)
        self.client.loop_stop()
