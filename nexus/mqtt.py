"""An asyncio face for paho-mqtt 2.x: awaitable QoS 1 publishes, a message queue, manual acks.

paho runs its network loop in its own thread (``loop_start``); every callback crosses into the
event loop with ``call_soon_threadsafe``. paho keeps unacknowledged QoS 1 messages and resends
them after a reconnect, so a publish awaits its PUBACK however long the broker is away.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from nexus.errors import BrokerError, NoSubscribersError
from nexus.lifecycle import AsyncService
from nexus.settings import MqttSettings

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 0x10
"""MQTT 5 PUBACK reason: accepted, but nobody subscribes (e.g. a shared group whose members
have not yet re-subscribed after a broker restart). The message was not delivered."""


@dataclass(frozen=True, slots=True)
class Message:
    """A received message; acknowledge it with ``MqttClient.ack(message)`` when it is safe."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool


class MqttClient(AsyncService):
    """One MQTT 5 connection. Use as ``async with MqttClient(settings) as client``."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        manual_ack: bool = False,
        subscriptions: tuple[str, ...] = (),
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.settings = settings
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._subscriptions = subscriptions
        self._loop = asyncio.get_running_loop()
        self._lock = threading.RLock()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._early: dict[int, BaseException | None] = {}
        self._inflight = asyncio.Semaphore(settings.max_inflight)
        self._closing = False
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
            manual_ack=manual_ack,
        )
        if settings.username is not None:
            self._client.username_pw_set(settings.username, settings.password)
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=True)
        self._client.max_inflight_messages_set(settings.max_inflight)
        self._client.max_queued_messages_set(0)
        # paho doubles its reconnect delay from min to max without jitter; drawing both per
        # client spreads the reconnects of many clients when a broker comes back.
        rng = random.Random()
        self._client.reconnect_delay_set(
            min_delay=rng.uniform(0.5, 1.5),  # type: ignore[arg-type]  # paho accepts floats
            max_delay=rng.uniform(3.75, 6.25),  # type: ignore[arg-type]
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_unsubscribe = self._on_unsubscribe
        self._unsubscribed: asyncio.Event | None = None

    async def start(self) -> None:
        """Connect and wait for the broker's CONNACK (BrokerError after the connect timeout)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=self.settings.clean_start,
            properties=props,
        )
        self._client.loop_start()
        try:
            await asyncio.wait_for(self.connected.wait(), self.settings.connect_timeout_s)
        except TimeoutError:
            await self.stop()
            raise BrokerError(
                f"no connection to MQTT broker {self.settings.host}:{self.settings.port} "
                f"within {self.settings.connect_timeout_s:g} s as {self.settings.client_id!r}"
            ) from None

    async def stop(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        with self._lock:
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.cancel()

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and, for QoS 1, return once the broker has acknowledged (PUBACK).

        Raises NoSubscribersError when the broker says nobody subscribes to the topic.
        """
        await self.publish_nowait(topic, payload, qos=qos, retain=retain)

    async def publish_nowait(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        """Hand a message to the client; returns a future done on PUBACK.

        Waits first while ``max_inflight`` messages are unacknowledged, so message ids can never
        wrap onto one still in flight.
        """
        await self._inflight.acquire()
        fut: asyncio.Future[None] = self._loop.create_future()
        fut.add_done_callback(lambda _: self._inflight.release())
        # Never hold our lock while calling into paho: paho calls on_publish with its own locks
        # held, and that callback takes ours (lock-order inversion). A PUBACK that arrives
        # before we register the future is parked in _early and picked up here.
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            fut.set_exception(
                BrokerError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
            )
            return fut
        if qos == 0:
            fut.set_result(None)
            return fut
        with self._lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._pending[info.mid] = fut
        if early is not None:
            _settle(fut, early)
        return fut

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        self._subscriptions = (*self._subscriptions, topic)
        self._client.subscribe(topic, qos=qos)

    async def unsubscribe(self, topic: str, timeout_s: float = 5.0) -> bool:
        """Unsubscribe and wait for the broker's UNSUBACK; False if it did not come in time."""
        self._subscriptions = tuple(t for t in self._subscriptions if t != topic)
        done = asyncio.Event()
        self._unsubscribed = done
        result, _ = self._client.unsubscribe(topic)
        if result != paho.MQTT_ERR_SUCCESS:
            return False
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def ack(self, message: Message) -> None:
        """Acknowledge a message received with manual_ack (sends the PUBACK)."""
        self._client.ack(message.mid, message.qos)

    # paho callbacks: they run in paho's network thread.

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker refused %s: %s", self.settings.client_id, reason)
            return
        log.info(
            "connected to MQTT broker %s:%d as %s (session present: %s)",
            self.settings.host,
            self.settings.port,
            self.settings.client_id,
            flags.session_present,
        )
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not self._closing:
            log.warning(
                "lost MQTT broker %s:%d: %s; reconnecting",
                self.settings.host,
                self.settings.port,
                reason,
            )
        self._loop.call_soon_threadsafe(self.connected.clear)

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        error: BrokerError | None = None
        if reason.is_failure:
            error = BrokerError(f"broker rejected message {mid}: {reason}")
        elif reason.value == NO_MATCHING_SUBSCRIBERS:
            error = NoSubscribersError(f"message {mid}: no matching subscribers")
        with self._lock:
            fut = self._pending.pop(mid, None)
            if fut is None:
                self._early[mid] = error
                return
        self._loop.call_soon_threadsafe(_settle, fut, error)

    def _on_unsubscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if self._unsubscribed is not None:
            self._loop.call_soon_threadsafe(self._unsubscribed.set)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        message = Message(msg.topic, bytes(msg.payload), msg.qos, msg.mid, msg.retain)
        self._loop.call_soon_threadsafe(self.messages.put_nowait, message)


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)
