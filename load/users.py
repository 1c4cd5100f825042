"""The Locust user: one simulated device that publishes telemetry straight to the broker."""

from __future__ import annotations

import logging
import random
import time

from locust import User, task
from locust.exception import StopUser

from load.device import ConnectFailed, DeviceConnection, DeviceError
from load.session import LoadSession, session_of
from load.telemetry import DeviceTelemetry

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


class DeviceUser(User):
    """A device with NEXUS_LOAD_TAGS tags, polled NEXUS_LOAD_RATE times a second, each poll
    published QoS 1 in the batch form (one message) or the tag form (one message per tag)."""

    session: LoadSession
    telemetry: DeviceTelemetry
    connection: DeviceConnection

    def wait_time(self) -> float:
        """Constant pacing: polls start every 1/rate seconds, however long a poll took."""
        self._next_poll += 1.0 / self.session.options.rate
        return max(0.0, self._next_poll - time.monotonic())

    def on_start(self) -> None:
        self.session = session_of(self.environment)
        name, self.telemetry = self.session.new_device()
        self.connection = DeviceConnection(
            self.session.broker,
            client_id=self.session.client_id(name),
            on_ack=self.session.acked,
            on_fail=self.session.failed,
            on_late_ack=self.session.late_ack,
        )
        try:
            seconds = self.connection.connect(CONNECT_TIMEOUT_S)
        except ConnectFailed as exc:
            self.session.connected(CONNECT_TIMEOUT_S, exc)
            raise StopUser() from exc
        self.session.connected(seconds)
        # A random phase: devices started together must not poll in lockstep (real ones don't,
        # and bursts would meet the ingest's flush cycle at one phase only).
        time.sleep(random.uniform(0, 1.0 / self.session.options.rate))  # gevent's sleep
        self._next_poll = time.monotonic()

    @task
    def poll(self) -> None:
        self.connection.expire(self.session.options.puback_timeout_s)
        for message in self.telemetry.poll(int(time.time() * 1000)):
            try:
                self.connection.publish(message)
            except DeviceError as exc:
                self.session.refused(message, exc)
                continue
            self.session.published(message)

    def on_stop(self) -> None:
        connection = getattr(self, "connection", None)
        if connection is not None:
            connection.close(drain_s=self.session.options.puback_timeout_s)
