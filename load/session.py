"""The device swarm of one Locust process: what its devices share, and the run's life cycle.

``LoadSession`` is created at Locust's ``init`` event and found by the users through
``session_of(environment)``. It owns the ledger, the end-to-end sampler and the counters, and
turns device outcomes into Locust statistics (``events.request``), by type and name:

- MQTT ``connect``: CONNECT → CONNACK;
- MQTT ``publish batch`` / ``publish tag``: publish → PUBACK (failures: refused, no PUBACK);
- E2E ``publish to commit``: publish → row committed, on a sample;
- E2E ``not stored in time``: failures only, sampled points not stored within the timeout;
- LEDGER ``acknowledged points stored``: once at the end, the drain time; a failure when
  acknowledged points are lost.

In a distributed run (``--master``/``--worker``) each worker keeps its own ledger and summary;
the master does nothing here.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import secrets
import time
import weakref
from pathlib import Path

import gevent
from locust.env import Environment
from locust.runners import MasterRunner
from locust.stats import StatsEntry

from load.device import Broker, DeviceError, InFlight
from load.historian import Historian, HistorianError
from load.ledger import Ledger, LedgerResult, reconcile
from load.options import LoadOptions, OptionsError
from load.sampler import E2ESampler, Observation, Sample
from load.summary import RunSummary
from load.target import Targets, targets_from_env
from load.telemetry import DeviceTelemetry, Message

log = logging.getLogger(__name__)

MQTT = "MQTT"
E2E = "E2E"
LEDGER = "LEDGER"
CONNECT = "connect"
COMMIT = "publish to commit"
NOT_STORED = "not stored in time"
STORED = "acknowledged points stored"


class NeverStored(Exception):
    """A sampled, acknowledged point did not reach the historian within the E2E timeout."""


class LostPoints(Exception):
    """Acknowledged points missing from the historian after the drain (the ledger's verdict)."""


_sessions: weakref.WeakKeyDictionary[Environment, LoadSession] = weakref.WeakKeyDictionary()


def session_of(environment: Environment) -> LoadSession:
    try:
        return _sessions[environment]
    except KeyError:
        raise RuntimeError("no load session: load/locustfile.py registers it at init") from None


def attach(environment: Environment) -> LoadSession:
    session = LoadSession(environment)
    _sessions[environment] = session
    return session


class LoadSession:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.options = self._read_options()
        self.targets: Targets = targets_from_env(os.environ, allow_remote=self.options.allow_remote)
        self.run_id = secrets.token_hex(3)
        self.line = f"run-{self.run_id}"
        self._numbers = itertools.count(1)
        self._sampler_historian = self._historian()
        self._ledger_historian = self._historian()
        self._loop: gevent.Greenlet[[], None] | None = None
        self._warned_at = 0.0
        self._reset()
        if self.targets.db_dsn is None:
            log.warning("NEXUS_DB_DSN is not set: no end-to-end latency and no ledger")
        log.info(
            "device swarm %s: broker %s:%d, topics dev/%s/%s/<device>",
            self.run_id,
            self.targets.mqtt_host,
            self.targets.mqtt_port,
            self.options.site,
            self.line,
        )

    def _read_options(self) -> LoadOptions:
        parsed = self.environment.parsed_options
        return LoadOptions() if parsed is None else LoadOptions.from_namespace(parsed)

    def _historian(self) -> Historian | None:
        return Historian(self.targets.db_dsn) if self.targets.db_dsn else None

    def _reset(self) -> None:
        self.ledger = Ledger()
        self.sampler = E2ESampler(
            per_s=self.options.e2e_samples_per_s if self._sampler_historian else 0,
            timeout_s=self.options.e2e_timeout_s,
        )
        self.messages_published = 0
        self.points_published = 0
        self.messages_acked = 0
        self.peak_users = 0
        self.e2e_exact = False
        self.started: float | None = None
        self.stopping: float | None = None

    @property
    def is_master(self) -> bool:
        return isinstance(self.environment.runner, MasterRunner)

    @property
    def publish_name(self) -> str:
        return f"publish {self.options.form.value}"

    # -- devices -------------------------------------------------------------------------------

    def new_device(self) -> tuple[str, DeviceTelemetry]:
        """A fresh device name (unique in this run) and the points it publishes."""
        name = f"d{next(self._numbers):05d}"
        telemetry = DeviceTelemetry(
            site=self.options.site,
            line=self.line,
            device=name,
            tags=self.options.tags,
            form=self.options.form,
            gateway_id=f"load-{self.run_id}",
        )
        return name, telemetry

    def client_id(self, device: str) -> str:
        return f"load-{self.run_id}-{os.getpid()}-{device}"

    @property
    def broker(self) -> Broker:
        t = self.targets
        return Broker(t.mqtt_host, t.mqtt_port, t.mqtt_username, t.mqtt_password)

    # -- outcomes (called from the devices' tasks and paho greenlets) ---------------------------

    def _fire(
        self, request_type: str, name: str, seconds: float, size: int, error: Exception | None
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=seconds * 1000,
            response_length=size,
            exception=error,
            context={},
        )

    def connected(self, seconds: float, error: Exception | None = None) -> None:
        self._fire(MQTT, CONNECT, seconds, 0, error)

    def published(self, message: Message) -> None:
        self.messages_published += 1
        self.points_published += message.points

    def acked(self, flight: InFlight, seconds: float) -> None:
        message = flight.message
        self._fire(MQTT, self.publish_name, seconds, len(message.payload), None)
        self._record(flight)

    def late_ack(self, flight: InFlight) -> None:
        self._record(flight)

    def _record(self, flight: InFlight) -> None:
        message = flight.message
        self.messages_acked += 1
        self.ledger.record(message)
        key = (random.choice(message.topics), message.ts)
        self.sampler.offer(key, flight.sent, flight.sent_wall_ms)

    def failed(self, flight: InFlight, seconds: float, error: DeviceError) -> None:
        self._fire(MQTT, self.publish_name, seconds, len(flight.message.payload), error)

    def refused(self, message: Message, error: DeviceError) -> None:
        self._fire(MQTT, self.publish_name, 0, len(message.payload), error)

    # -- life cycle ----------------------------------------------------------------------------

    def test_start(self) -> None:
        if self.is_master:
            return
        try:
            self.options = self._read_options()  # the web UI may have changed them
        except OptionsError as exc:
            log.error("invalid options, keeping the previous ones: %s", exc)
        self._reset()
        self.started = time.monotonic()
        self._loop = gevent.spawn(self._sample_loop)
        log.info(
            "device swarm %s started: %d tags per device, %g polls/s, %s form",
            self.run_id,
            self.options.tags,
            self.options.rate,
            self.options.form.value,
        )

    def test_stopping(self) -> None:
        if self.is_master or self.started is None:
            return
        self.stopping = time.monotonic()
        self._track_users()

    def test_stop(self) -> None:
        if self.is_master or self.started is None:
            return
        stopped = self.stopping or time.monotonic()
        ledger = self._reconcile()  # the sampler keeps sampling meanwhile
        if self._loop is not None:
            self._loop.kill()
            self._loop = None
        self._check_samples()
        for sample in self.sampler.abandon():
            self._never_stored(sample)
        summary = self._summary(stopped - self.started, ledger)
        self.started = None
        for historian in (self._sampler_historian, self._ledger_historian):
            if historian is not None:
                historian.close()  # reopened by the next test (web UI)
        log.info("device swarm %s summary: %s", self.run_id, summary.to_dict())
        if self.options.summary_file:
            summary.write(Path(self.options.summary_file))

    def _reconcile(self) -> LedgerResult | None:
        historian = self._ledger_historian
        if historian is None or not self.options.ledger:
            return None
        try:
            result = reconcile(self.ledger, historian.missing, drain_s=self.options.drain_s)
        except HistorianError as exc:
            log.error("ledger: cannot check the historian: %s", exc)
            self._fire(LEDGER, STORED, 0, 0, LostPoints(f"ledger not verified: {exc}"))
            return None
        error = None
        if result.lost:
            error = LostPoints(f"{result.lost} of {result.acked} acknowledged points not stored")
        self._fire(LEDGER, STORED, result.drain_s, result.acked, error)
        return result

    def _sample_loop(self) -> None:
        while True:
            gevent.sleep(self.options.e2e_interval_s)
            self._track_users()
            self._check_samples()

    def _track_users(self) -> None:
        runner = self.environment.runner
        if runner is not None:
            self.peak_users = max(self.peak_users, runner.user_count)

    def _check_samples(self) -> None:
        historian = self._sampler_historian
        if historian is None or not self.sampler.pending:
            return
        try:
            found, expired = self.sampler.check(historian.stored)
        except HistorianError as exc:
            now = time.monotonic()
            if now - self._warned_at > 10:
                self._warned_at = now
                log.warning("end-to-end sampler: %s", exc)
            return
        for observation in found:
            self._observed(observation)
        for sample in expired:
            self._never_stored(sample)

    def _observed(self, observation: Observation) -> None:
        self.e2e_exact = observation.exact
        self._fire(E2E, COMMIT, observation.latency_s, 0, None)

    def _never_stored(self, sample: Sample) -> None:
        topic, ts = sample.key
        error = NeverStored(f"not stored within {self.options.e2e_timeout_s:g} s")
        self._fire(E2E, NOT_STORED, time.monotonic() - sample.published, 0, error)
        log.debug("never stored: %s@%d", topic, ts)

    def _summary(self, duration_s: float, ledger: LedgerResult | None) -> RunSummary:
        stats = self.environment.stats
        publish = stats.get(self.publish_name, MQTT)
        e2e = stats.get(COMMIT, E2E)

        acked = self.ledger.points
        return RunSummary(
            users=self.peak_users,
            duration_s=round(duration_s, 2),
            points_per_s=round(acked / duration_s, 1) if duration_s > 0 else 0.0,
            publish_p50_ms=_percentile(publish, 0.5),
            publish_p95_ms=_percentile(publish, 0.95),
            e2e_p50_ms=_percentile(e2e, 0.5),
            e2e_p95_ms=_percentile(e2e, 0.95),
            failures=int(stats.total.num_failures),
            lost=ledger.lost if ledger is not None else None,
            messages_published=self.messages_published,
            messages_acked=self.messages_acked,
            points_published=self.points_published,
            points_acked=acked,
            e2e_samples=int(e2e.num_requests),
            e2e_exact=self.e2e_exact,
            drain_s=round(ledger.drain_s, 2) if ledger is not None else None,
            payload_form=self.options.form.value,
            tags_per_device=self.options.tags,
            rate_per_device=self.options.rate,
            lost_sample=[f"{t}@{ts}" for t, ts in ledger.lost_sample] if ledger else [],
        )


def _percentile(entry: StatsEntry, q: float) -> float | None:
    """Locust's percentile of an entry (rounded as its statistics are), None without data."""
    if not entry.num_requests:
        return None
    return float(entry.get_response_time_percentile(q))
