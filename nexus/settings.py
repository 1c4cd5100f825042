"""Service settings read from the environment (credentials never come from files in the image)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus.errors import ConfigError


class MqttSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    client_id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=128)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    max_inflight: int = Field(default=1000, ge=1, le=60000)
    """Unacknowledged QoS 1 messages we send at once; below paho's 65,535 message ids."""
    receive_maximum: int = Field(default=10000, ge=1, le=65535)
    """Unacknowledged QoS 1 messages the broker may send us at once (MQTT 5 Receive Maximum)."""
    session_expiry_s: int = Field(default=3600, ge=0)
    clean_start: bool = True


def env_settings(
    prefix: str, fields: Mapping[str, str], env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The values of ``{prefix}{NAME}`` variables for each field name → NAME in `fields`."""
    env = os.environ if env is None else env
    return {field: env[prefix + name] for field, name in fields.items() if prefix + name in env}


def mqtt_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> MqttSettings:
    """MQTT settings from NEXUS_MQTT_HOST, _PORT, _USERNAME, _PASSWORD, _CLIENT_ID."""
    names = {f: f.upper() for f in ("host", "port", "username", "password", "client_id")}
    values: dict[str, object] = dict(env_settings("NEXUS_MQTT_", names, env))
    values.update(overrides)
    try:
        return MqttSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "NEXUS_MQTT_" + str(first["loc"][0]).upper() if first["loc"] else "NEXUS_MQTT_*"
        raise ConfigError(first["msg"], file="environment", field=field) from exc


def db_dsn_from_env(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    dsn = env.get("NEXUS_DB_DSN")
    if not dsn:
        raise ConfigError(
            "is not set (postgresql://user:password@host:port/db)",
            file="environment",
            field="NEXUS_DB_DSN",
        )
    return dsn
