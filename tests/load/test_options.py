"""Device-swarm options: defaults, validation naming the flag and its variable, targets."""

from __future__ import annotations

import argparse

import pytest

from load.options import LoadOptions, OptionsError
from load.target import TargetError, check_host, is_loopback, targets_from_env
from load.telemetry import PayloadForm


def test_defaults_when_nothing_is_given() -> None:
    assert LoadOptions.from_namespace(argparse.Namespace()) == LoadOptions()


def test_values_are_parsed() -> None:
    ns = argparse.Namespace(
        payload_form="TAG", device_tags="5", device_rate="0.5", ledger="off", site="plant-7"
    )
    options = LoadOptions.from_namespace(ns)
    assert options.form is PayloadForm.TAG
    assert (options.tags, options.rate, options.ledger, options.site) == (5, 0.5, False, "plant-7")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("payload_form", "json", r"--payload-form \(NEXUS_LOAD_FORM\): 'json' is not one of"),
        ("device_tags", "0", r"--device-tags \(NEXUS_LOAD_TAGS\): 0 is outside 1–10000"),
        ("device_rate", "fast", r"--device-rate \(NEXUS_LOAD_RATE\): 'fast' is not a number"),
        ("ledger", "maybe", r"--ledger \(NEXUS_LOAD_LEDGER\): 'maybe' is not on/off"),
        ("site", "a/b", r"--site \(NEXUS_LOAD_SITE\)"),
    ],
)
def test_invalid_values_name_the_flag_and_the_variable(
    field: str, value: str, message: str
) -> None:
    with pytest.raises(OptionsError, match=message):
        LoadOptions.from_namespace(argparse.Namespace(**{field: value}))


def test_loopback_hosts_are_recognised() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("localhost")
    assert not is_loopback("192.0.2.10")  # TEST-NET-1, never contacted: only classified


def test_a_remote_broker_is_refused_unless_allowed() -> None:
    with pytest.raises(TargetError, match="not on this machine"):
        check_host("192.0.2.10", "MQTT broker", allow_remote=False)
    check_host("192.0.2.10", "MQTT broker", allow_remote=True)


def test_targets_come_from_the_nexus_environment() -> None:
    env = {
        "NEXUS_MQTT_HOST": "127.0.0.1",
        "NEXUS_MQTT_PORT": "1883",
        "NEXUS_DB_DSN": "postgresql://u:p@127.0.0.1:5432/db",
    }
    targets = targets_from_env(env)
    assert (targets.mqtt_host, targets.mqtt_port, targets.db_dsn) == (
        "127.0.0.1",
        1883,
        env["NEXUS_DB_DSN"],
    )
    with pytest.raises(TargetError, match="database"):
        targets_from_env({**env, "NEXUS_DB_DSN": "postgresql://u:p@192.0.2.10/db"})
