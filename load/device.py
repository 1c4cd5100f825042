"""One simulated device's MQTT connection: QoS 1 publishes and their acknowledgements.

Plain paho-mqtt with its network loop in a thread (``loop_start``): under Locust, gevent's
monkey-patching turns that thread into a greenlet and every socket into a cooperative one, so
hundreds of devices share one process. (``nexus.mqtt`` is asyncio, which gevent cannot host.)

Every publish is tracked from ``publish()`` to its PUBACK; the owner is told of each outcome
through the callbacks: acknowledged (with the latency), refused by the broker, or a PUBACK that
came only after the timeout had already been reported (still acknowledged: it goes to the
ledger, not to the latency statistics).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from load.telemetry import Message

log = logging.getLogger(__name__)


class DeviceError(Exception):
    """Base of the device's MQTT failures (what a Locust failure entry shows)."""


class ConnectFailed(DeviceError):
    """The broker did not accept the connection in time."""


class PublishRefused(DeviceError):
    """paho refused the publish, or the broker answered it with an error reason code."""


class PubackTimeout(DeviceError):
    """No PUBACK within the timeout."""


@dataclass(slots=True)
class InFlight:
    """A published message waiting for its PUBACK."""

    message: Message
    sent: float
    """``time.monotonic()`` at publish"""
    sent_wall_ms: float
    timed_out: bool = False


AckHandler = Callable[[InFlight, float], None]
"""(message, seconds from publish to PUBACK)"""
FailHandler = Callable[[InFlight, float, DeviceError], None]
LateAckHandler = Callable[[InFlight], None]


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None


class DeviceConnection:
    """``connect()``, then ``publish()`` as often as wanted, then ``close()``."""

    def __init__(
        self,
        broker: Broker,
        *,
        client_id: str,
        on_ack: AckHandler,
        on_fail: FailHandler,
        on_late_ack: LateAckHandler,
        max_inflight: int = 1000,
        keepalive_s: int = 30,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self._on_ack = on_ack
        self._on_fail = on_fail
        self._on_late_ack = on_late_ack
        self._keepalive = keepalive_s
        self._lock = threading.Lock()
        self._inflight: dict[int, InFlight] = {}
        self._early: dict[int, ReasonCode] = {}
        self._connected = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        if broker.username is not None:
            self._client.username_pw_set(broker.username, broker.password)
        # The default of 20 would queue messages inside paho and count that wait as latency.
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish

    @property
    def inflight(self) -> int:
        with self._lock:
            return sum(1 for f in self._inflight.values() if not f.timed_out)

    def connect(self, timeout_s: float) -> float:
        """Connect and wait for CONNACK; the seconds it took (ConnectFailed otherwise)."""
        started = time.monotonic()
        try:
            self._client.connect(self.broker.host, self.broker.port, keepalive=self._keepalive)
        except OSError as exc:
            raise ConnectFailed(f"{self.broker.host}:{self.broker.port}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close(0)
            raise ConnectFailed(f"no CONNACK within {timeout_s:g} s")
        return time.monotonic() - started

    def publish(self, message: Message) -> InFlight:
        """Hand one message to paho (QoS 1); PublishRefused if paho refuses it at once."""
        flight = InFlight(message, time.monotonic(), time.time() * 1000)
        info = self._client.publish(message.topic, message.payload, qos=1)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise PublishRefused(f"publish refused: {paho.error_string(info.rc)}")
        # paho resends a message published while disconnected once it is back (NO_CONN).
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._inflight[info.mid] = flight
        if early is not None:  # the PUBACK beat us to the registration
            self._settle(flight, early)
        return flight

    def expire(self, timeout_s: float) -> list[InFlight]:
        """Report messages without PUBACK for ``timeout_s`` as failed (once each)."""
        now = time.monotonic()
        expired: list[InFlight] = []
        with self._lock:
            for flight in self._inflight.values():
                if not flight.timed_out and now - flight.sent > timeout_s:
                    flight.timed_out = True
                    expired.append(flight)
        for flight in expired:
            error = PubackTimeout(f"no PUBACK within {timeout_s:g} s")
            self._on_fail(flight, now - flight.sent, error)
        return expired

    def drain(self, timeout_s: float, poll_s: float = 0.05) -> None:
        """Wait up to ``timeout_s`` for outstanding PUBACKs; report the rest as timed out."""
        deadline = time.monotonic() + timeout_s
        while self.inflight and time.monotonic() < deadline:
            time.sleep(poll_s)
        self.expire(0.0)

    def close(self, drain_s: float = 5.0) -> None:
        if drain_s > 0 and self._connected.is_set():
            self.drain(drain_s)
        self._client.disconnect()
        self._client.loop_stop()

    # paho callbacks: paho's network thread (a greenlet under Locust)

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("device %s: broker refused the connection: %s", self.client_id, reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Nagle's algorithm would hold the second of two small publishes until the broker's
            # delayed ACK (~40 ms). (The broker's side of it is its own setting: Mosquitto's
            # set_tcp_nodelay, off by default, see docs/load-testing.md.)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connected.set()

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("device %s: connection lost (%s); reconnecting", self.client_id, reason)

    def _handle_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        with self._lock:
            flight = self._inflight.pop(mid, None)
            if flight is None:
                self._early[mid] = reason
                return
        self._settle(flight, reason)

    def _settle(self, flight: InFlight, reason: ReasonCode) -> None:
        latency = time.monotonic() - flight.sent
        if reason.is_failure:
            if not flight.timed_out:
                self._on_fail(flight, latency, PublishRefused(f"broker refused: {reason}"))
        elif flight.timed_out:
            self._on_late_ack(flight)
        else:
            self._on_ack(flight, latency)
