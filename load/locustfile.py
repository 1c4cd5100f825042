"""NEXUS Edge device swarm: each Locust user is a device publishing telemetry over MQTT.

    eval "$(nexus stack up)"; nexus ingest run &      # a broker, a historian, an ingest
    locust -f load/locustfile.py --web-host 127.0.0.1  # web UI on http://127.0.0.1:8089

Devices publish QoS 1 to NEXUS_MQTT_HOST:NEXUS_MQTT_PORT in the payload contract (batch form by
default); with NEXUS_DB_DSN they also measure end-to-end latency on a sample and, at the end,
check every acknowledged point against the historian (the ledger). NEXUS_LOAD_SHAPE=step|ramp|
spike runs a load shape. Options: ``locust -f load/locustfile.py --help`` (NEXUS Edge section)
and docs/load-testing.md.
"""

from __future__ import annotations

import sys
from typing import Any

from locust import events
from locust.env import Environment

from load.historian import HistorianError
from load.options import OptionsError, add_arguments
from load.profiles import ProfileError, profile_from_env
from load.session import attach, session_of
from load.shapes import selected_shape
from load.target import TargetError
from load.users import DeviceUser

__all__ = ["DeviceUser"]


try:
    Shape = selected_shape()
    if Shape is not None:
        profile_from_env(Shape.profile_name)  # fail here, plainly, not in Locust's loader
except ProfileError as exc:
    sys.exit(f"nexus load: {exc}")


def _arguments(parser: Any, **kwargs: Any) -> None:
    add_arguments(parser)


def _init(environment: Environment, **kwargs: Any) -> None:
    try:
        attach(environment)
    except (OptionsError, TargetError, HistorianError) as exc:
        sys.exit(f"nexus load: {exc}")


def _test_start(environment: Environment, **kwargs: Any) -> None:
    session_of(environment).test_start()


def _test_stopping(environment: Environment, **kwargs: Any) -> None:
    session_of(environment).test_stopping()


def _test_stop(environment: Environment, **kwargs: Any) -> None:
    session_of(environment).test_stop()


events.init_command_line_parser.add_listener(_arguments)
events.init.add_listener(_init)
events.test_start.add_listener(_test_start)
events.test_stopping.add_listener(_test_stopping)
events.test_stop.add_listener(_test_stop)
