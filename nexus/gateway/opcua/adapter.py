"""OPC UA adapter (asyncua client): subscriptions by default, batched Read in polling mode.

Subscription mode: one subscription per device, publishing interval = the poll interval, one
monitored item per tag (its sampling interval, and an absolute deadband if set); the server
reports changes, which `read()` hands to the poller on each tick (so publishing, batching and
health are the same code as for polled devices). Polling mode: a Read of every tag's Value,
`max_nodes_per_read` nodes per request.

A lost connection (server restart, network) makes the next `read()` raise DeviceUnreachable;
the read after it connects again, with a new session and new subscriptions: data flows again
without restarting the gateway. StatusCode → quality: good 192, uncertain 64, bad 0 (a bad
value is published as null).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import (
    DataChangeEvent,
    OverflowPolicy,
    StatusChangeEvent,
    Subscription,
)
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509

from nexus.errors import ConfigError, DeviceProtocolError, DeviceTimeout, DeviceUnreachable
from nexus.gateway.adapter import Reading
from nexus.gateway.adapters import raise_if_cancelled
from nexus.gateway.opcua.convert import plain_value, quality_of
from nexus.model.payload import Quality
from nexus.model.tags import OpcUaDevice, OpcUaTag

log = logging.getLogger(__name__)

QUEUE_LIMIT = 200_000
"""Notifications held between two polls; beyond it the session is dropped and rebuilt (loud),
never a silent drop."""

APPLICATION_URI = "urn:nexus-edge:gateway"
"""The gateway's application URI, unless its certificate names another one."""

_SECURITY_MODE = {
    "Sign": ua.MessageSecurityMode.Sign,
    "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt,
}


class OpcUaAdapter:
    """Reads (or subscribes to) all tags of one OPC UA server, one session per device."""

    def __init__(self, device: OpcUaDevice) -> None:
        self.device = device
        self._timeout = device.timeout_ms / 1000
        self._password: str | None = None
        if device.password_env is not None:
            self._password = os.environ.get(device.password_env)
            if self._password is None:
                raise ConfigError(
                    f"environment variable {device.password_env} is not set",
                    field=f"device {device.name}: password_env",
                )
        self._node_ids = [ua.NodeId.from_string(t.node_id) for t in device.tags]
        self._client: Any = None
        self._lost: str | None = None
        self._subscription: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._pending: list[Reading] = []
        self._tag_by_handle: dict[int, OpcUaTag] = {}

    @property
    def name(self) -> str:
        return self.device.name

    async def read(self) -> list[Reading]:
        try:
            async with asyncio.timeout(self._timeout):
                client = await self._connected_client()
                if self.device.mode == "polling":
                    return await self._read_all(client)
        except TimeoutError:
            await self.close()
            raise DeviceTimeout(self.name, f"no answer within {self._timeout:g} s") from None
        except (OSError, ConnectionError, ua.UaError, asyncio.IncompleteReadError) as exc:
            await self.close()
            if isinstance(exc, ua.UaStatusCodeError):
                raise DeviceProtocolError(self.name, str(exc)) from exc
            raise DeviceUnreachable(self.name, f"connection lost: {exc}") from exc
        finally:
            raise_if_cancelled()
        readings, self._pending = self._pending, []
        return readings

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
        self._subscription = None
        client, self._client = self._client, None
        if client is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    await client.disconnect()
            except (TimeoutError, OSError, ConnectionError, ua.UaError) as exc:
                log.debug("%s: disconnect failed: %s", self.name, exc)
                client.disconnect_socket()

    # -- session ---------------------------------------------------------------------------------

    async def _connected_client(self) -> Any:
        if self._client is not None:
            if self._consumer is not None and self._consumer.done() and self._lost is None:
                self._lost = "the subscription's notifications stopped"
            if self._lost is None and self._client.uaclient.state is UaClientState.CONNECTED:
                return self._client
            reason = self._lost or f"session {self._client.uaclient.state.value}"
            raise ConnectionError(reason)
        self._lost = None
        client = Client(self.device.endpoint, timeout=self._timeout, watchdog_intervall=1.0)
        client.session_timeout = max(30_000, 10 * self.device.poll_interval_ms)
        client.connection_lost_callback = self._on_connection_lost
        client.name = client.description = f"NEXUS Edge gateway ({self.name})"
        if self.device.username is not None:
            client.set_user(self.device.username)
            if self._password is not None:
                client.set_password(self._password)
        if self.device.security_policy == "Basic256Sha256":
            assert self.device.certificate is not None  # the model requires it
            uri = await asyncio.to_thread(certificate_uri, self.device.certificate)
            client.application_uri = uri or APPLICATION_URI
            await client.set_security(
                SecurityPolicyBasic256Sha256,
                certificate=self.device.certificate,
                private_key=self.device.private_key,
                server_certificate=self.device.server_certificate,
                mode=_SECURITY_MODE[self.device.security_mode],
            )
        self._client = client
        await client.connect(auto_reconnect=False)
        if self.device.mode == "subscription":
            await self._subscribe(client)
        log.info(
            "%s: session open on %s (%s, %d tags)",
            self.name,
            self.device.endpoint,
            self.device.mode,
            len(self.device.tags),
        )
        return client

    async def _on_connection_lost(self, exc: Exception) -> None:
        self._lost = f"connection lost: {exc!r}"

    # -- polling ---------------------------------------------------------------------------------

    async def _read_all(self, client: Any) -> list[Reading]:
        readings: list[Reading] = []
        step = self.device.max_nodes_per_read
        for begin in range(0, len(self._node_ids), step):
            values = await client.uaclient.read_attributes(
                self._node_ids[begin : begin + step], ua.AttributeIds.Value
            )
            tags = self.device.tags[begin : begin + step]
            readings.extend(_reading(tag, dv) for tag, dv in zip(tags, values, strict=True))
        return readings

    # -- subscription ----------------------------------------------------------------------------

    async def _subscribe(self, client: Any) -> None:
        subscription = await client.create_subscription(
            self.device.poll_interval_ms,
            handler=None,
            queue_maxsize=QUEUE_LIMIT,
            overflow=OverflowPolicy.DISCONNECT,
        )
        requests = []
        self._tag_by_handle = {}
        for handle, (tag, nodeid) in enumerate(
            zip(self.device.tags, self._node_ids, strict=True), 1
        ):
            self._tag_by_handle[handle] = tag
            requests.append(self._monitored_item(handle, tag, nodeid))
        results = await subscription.create_monitored_items(requests)
        refused = [
            (tag.name, result)
            for tag, result in zip(self.device.tags, results, strict=True)
            if isinstance(result, ua.StatusCode)
        ]
        for name, status in refused:  # e.g. an unknown node id: bad once, not a dead device
            log.warning("%s: tag %s cannot be monitored: %s", self.name, name, status.name)
        self._pending.extend(
            Reading(name, None, Quality.BAD, _unit(self.device, name)) for name, _ in refused
        )
        self._subscription = subscription
        self._consumer = asyncio.create_task(self._consume(subscription), name=f"opcua:{self.name}")

    def _monitored_item(
        self, handle: int, tag: OpcUaTag, nodeid: ua.NodeId
    ) -> ua.MonitoredItemCreateRequest:
        params = ua.MonitoringParameters()
        params.ClientHandle = handle
        sampling = tag.sampling_interval_ms
        params.SamplingInterval = float(
            self.device.poll_interval_ms if sampling is None else sampling
        )
        params.QueueSize = 1
        params.DiscardOldest = True
        if tag.deadband is not None:
            params.Filter = ua.DataChangeFilter(
                Trigger=ua.DataChangeTrigger.StatusValue,
                DeadbandType=ua.DeadbandType.Absolute.value,
                DeadbandValue=tag.deadband,
            )
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(NodeId=nodeid, AttributeId=ua.AttributeIds.Value)
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = params
        return request

    async def _consume(self, subscription: Subscription) -> None:
        """Collect the subscription's notifications until the next `read()` takes them."""
        async for event in subscription:
            if isinstance(event, DataChangeEvent):
                tag = self._tag_by_handle.get(event.data.monitored_item.ClientHandle)
                if tag is not None:
                    self._pending.append(_reading(tag, event.data.monitored_item.Value))
            elif isinstance(event, StatusChangeEvent):
                status = event.notification.Status
                if not status.is_good():
                    self._lost = f"subscription status {status.name}"


def certificate_uri(path: str) -> str | None:
    """The application URI in a certificate's subjectAltName (DER or PEM), if any."""
    try:
        data = Path(path).read_bytes()
        cert = (
            x509.load_pem_x509_certificate(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(data)
        )
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _unit(device: OpcUaDevice, name: str) -> str:
    return next(t.unit for t in device.tags if t.name == name)


def _reading(tag: OpcUaTag, data_value: Any) -> Reading:
    if data_value is None:
        return Reading(tag.name, None, Quality.BAD, tag.unit)
    status = data_value.StatusCode
    quality = quality_of(status.value if status is not None else 0)
    variant = data_value.Value
    if quality is Quality.BAD or variant is None:  # Part 4: a bad value is to be ignored
        return Reading(tag.name, None, quality, tag.unit)
    return Reading(tag.name, plain_value(variant.Value), quality, tag.unit)
