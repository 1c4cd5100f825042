"""The EMQX configuration keeps QoS 1 messages for the ingest, authentication is on, and the
start and init scripts do what the manifests expect of them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from nexus.gateway.config import GatewayConfig
from nexus.model.tags import ModbusDevice, OpcUaDevice
from nexus.settings import MqttSettings
from simulators.plant import load_plant
from tests.deploy.manifests import K8S, REPO

FILES = K8S / "base" / "files"
EMQX_CONF = (FILES / "emqx.conf").read_text(encoding="utf-8")
INGEST_BATCH_POINTS = 5000
"""`nexus ingest run --batch-points` default: held unacknowledged until the commit."""


def setting(name: str) -> str:
    """The value of `name = value` in emqx.conf (HOCON, one setting per line here)."""
    matches = re.findall(rf"^\s*{re.escape(name)}\s*=\s*(\S+)\s*$", EMQX_CONF, re.MULTILINE)
    assert len(matches) == 1, f"{name}: {matches}"
    return str(matches[0])


def test_inflight_window_holds_a_whole_ingest_batch() -> None:
    window = int(setting("max_inflight"))
    assert INGEST_BATCH_POINTS < window <= 65535
    # EMQX grants min(client Receive Maximum, max_inflight): the ingest must ask for as much.
    assert MqttSettings().receive_maximum <= window


def test_queue_and_session_limits_never_drop_for_a_brief_disconnect() -> None:
    queue = setting("max_mqueue_len")
    assert queue == "infinity" or int(queue) >= 100 * 10_000  # 100 s at 10,000 messages/s
    assert setting("mqueue_store_qos0") == "false"
    assert setting("message_expiry_interval") == "infinity"
    assert setting("retry_interval") == "infinity"
    assert setting("session_expiry_interval") == "2h"
    assert setting("shared_subscription_strategy") == "round_robin"
    assert int(setting("max_mailbox_size")) >= 100 * int(setting("max_inflight")) // 10


def test_authentication_is_required() -> None:
    assert setting("backend") == "built_in_database"
    assert setting("mechanism") == "password_based"
    assert setting("bootstrap_file") == '"/opt/emqx/bootstrap/users.csv"'
    assert "allow_anonymous" not in EMQX_CONF


def test_every_broker_setting_has_its_reason() -> None:
    """Each limit is preceded by a comment saying why."""
    lines = EMQX_CONF.splitlines()
    for name in (
        "max_inflight",
        "max_mqueue_len",
        "mqueue_store_qos0",
        "retry_interval",
        "session_expiry_interval",
        "shared_subscription_strategy",
        "max_mailbox_size",
    ):
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(name))
        assert lines[index - 1].strip().startswith("##"), name


def _start_script(tmp_path: Path, **users: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "EMQX_BOOTSTRAP_DIR": str(tmp_path), **users}
    return subprocess.run(
        ["/bin/sh", str(FILES / "emqx-start.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


USERS = {
    "MQTT_GATEWAY_USERNAME": "gateway",
    "MQTT_GATEWAY_PASSWORD": "g4te",
    "MQTT_INGEST_USERNAME": "ingest",
    "MQTT_INGEST_PASSWORD": "1ngest",
}


def test_emqx_start_writes_the_users_and_starts_emqx(tmp_path: Path) -> None:
    result = _start_script(tmp_path, **USERS)
    # EMQX itself is not installed here: the script gets as far as exec'ing its entry point.
    assert "docker-entrypoint.sh" in result.stderr
    users = tmp_path / "users.csv"
    assert users.read_text(encoding="utf-8").splitlines() == [
        "user_id,password,is_superuser",
        "gateway,g4te,false",
        "ingest,1ngest,false",
    ]
    assert users.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("password", ["a,b", 'a"b', "a\nb", ""])
def test_emqx_start_refuses_what_the_csv_cannot_hold(tmp_path: Path, password: str) -> None:
    result = _start_script(tmp_path, **{**USERS, "MQTT_INGEST_PASSWORD": password})
    assert result.returncode == 2
    assert not (tmp_path / "users.csv").exists()


def test_database_init_enables_timescaledb_and_creates_the_ingest_role() -> None:
    script = (FILES / "timescaledb-init.sh").read_text(encoding="utf-8")
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb;" in script
    assert 'ALTER DATABASE :"app_db" OWNER TO :"app_user";' in script
    result = subprocess.run(["/bin/sh", "-n", str(FILES / "timescaledb-init.sh")], check=False)
    assert result.returncode == 0


def test_placeholder_device_file_is_valid() -> None:
    config = GatewayConfig.load(FILES / "gateway-devices.yaml")
    assert [(type(d), d.host) for d in config.devices if isinstance(d, ModbusDevice)] == [
        (ModbusDevice, "192.0.2.10")
    ]
    assert len(config.devices) == 1


def test_kind_device_file_matches_the_demo_plant() -> None:
    """deploy/k8s/overlays/kind/files/gateway-devices.yaml is generated: regenerate it with
    `nexus sim devices scenarios/plants/demo.yaml --host twin --base-port 5020 -o ...`."""
    path = K8S / "overlays" / "kind" / "files" / "gateway-devices.yaml"
    expected = load_plant(REPO / "scenarios" / "plants" / "demo.yaml").with_base_port(5020)
    committed = GatewayConfig.load(path).devices
    assert committed == expected.gateway_config("twin")
    assert {d.protocol for d in committed} == {"modbus", "opcua", "s7"}
    ports = sorted(
        int(urlsplit(d.endpoint).port or 0) if isinstance(d, OpcUaDevice) else d.port
        for d in committed
    )
    assert ports == list(range(5020, 5020 + len(ports)))
    assert ports[-1] == 5050  # the Compose file, the twin image and its NetworkPolicy say so
