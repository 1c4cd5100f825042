"""Prometheus metrics of the ingest service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "nexus_ingest_messages_received", "MQTT messages received", registry=r
        )
        self.stored = Counter(
            "nexus_ingest_points_stored", "Points committed to the historian", registry=r
        )
        self.dead_lettered = Counter(
            "nexus_ingest_dead_lettered", "Messages set aside in dead_letters", registry=r
        )
        self.buffered = Gauge(
            "nexus_ingest_buffered_points", "Points waiting for a commit", registry=r
        )
        self.duplicates = Counter(
            "nexus_ingest_duplicates_skipped", "Redelivered points already stored", registry=r
        )
        self.backpressure = Gauge(
            "nexus_ingest_backpressure", "1 while the buffer is full and reading paused", registry=r
        )
        self.write_errors = Counter(
            "nexus_ingest_write_errors", "Failed database writes", registry=r
        )
        self.batch_seconds = Histogram(
            "nexus_ingest_batch_latency_seconds",
            "First message of a batch received → committed",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.commit_seconds = Histogram(
            "nexus_ingest_commit_latency_seconds",
            "Time of the COPY and commit of one batch",
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
