"""Prometheus metrics of the gateway, in a registry of its own (services may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter(
            "nexus_gateway_polls", "Polls by device and result", ["device", "result"], registry=r
        )
        self.points_acquired = Counter(
            "nexus_gateway_points_acquired", "Points read from devices", registry=r
        )
        self.points_published = Counter(
            "nexus_gateway_points_published",
            "Points acknowledged by the broker (PUBACK)",
            registry=r,
        )
        self.publish_failures = Counter(
            "nexus_gateway_publish_failures", "Publishes the broker refused", registry=r
        )
        self.missed_deadlines = Counter(
            "nexus_gateway_missed_poll_deadlines",
            "Poll ticks skipped because a poll overran",
            ["device"],
            registry=r,
        )
        self.poll_seconds = Histogram(
            "nexus_gateway_poll_duration_seconds",
            "Time to read all tags of a device",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.device_up = Gauge(
            "nexus_gateway_device_up", "1 when the last poll succeeded", ["device"], registry=r
        )
        self.breaker_open = Gauge(
            "nexus_gateway_breaker_open",
            "1 while the device's circuit is open",
            ["device"],
            registry=r,
        )
        self.reconnect_attempts = Counter(
            "nexus_gateway_reconnect_attempts",
            "Polls of devices that were down (each opens a connection)",
            ["protocol"],
            registry=r,
        )
        self.poller_restarts = Counter(
            "nexus_gateway_poller_restarts",
            "Device pollers that ended on an unexpected error and were started again",
            registry=r,
        )
        self.undelivered_points = Counter(
            "nexus_gateway_undelivered_points",
            "Points the broker took with no subscriber, and no spool to keep them",
            registry=r,
        )
        self.spooled_points = Counter(
            "nexus_gateway_spooled_points", "Points written to the disk spool", registry=r
        )
        self.spool_bytes = Gauge("nexus_gateway_spool_bytes", "Size of the disk spool", registry=r)
        self.spool_evicted_points = Counter(
            "nexus_gateway_spool_evicted_points",
            "Points dropped because the spool was full (data lost)",
            registry=r,
        )
        self.inflight = Gauge(
            "nexus_gateway_publish_inflight", "Points published, not yet acknowledged", registry=r
        )
