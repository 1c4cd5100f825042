"""What a load test may target: the broker and the historian, on this machine unless allowed.

A load test sends a lot of traffic; aimed at the wrong address it is an attack. The broker and
the database come from the NEXUS_* environment (the output of ``nexus stack up``), and each
host must resolve to loopback addresses only, unless ``allow_remote`` (NEXUS_LOAD_ALLOW_REMOTE=1,
e.g. the load image inside a cluster, aimed at its own EMQX).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from nexus.errors import ConfigError
from nexus.settings import mqtt_from_env


class TargetError(Exception):
    """The broker or the database is not a permitted target, or is not configured."""


@dataclass(frozen=True)
class Targets:
    """How to reach the broker (and the historian, when there is a DSN)."""

    mqtt_host: str
    mqtt_port: int
    mqtt_username: str | None
    mqtt_password: str | None = field(repr=False)
    db_dsn: str | None = field(repr=False)


def is_loopback(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_host(host: str, what: str, *, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise TargetError(
            f"{what} host {host!r} is not on this machine (loopback); a load test targets only "
            "127.0.0.1 unless NEXUS_LOAD_ALLOW_REMOTE=1 says otherwise"
        )


def targets_from_env(env: Mapping[str, str], *, allow_remote: bool = False) -> Targets:
    """The broker of NEXUS_MQTT_* and the historian of NEXUS_DB_DSN (optional), checked."""
    try:
        mqtt = mqtt_from_env(env)
    except ConfigError as exc:
        raise TargetError(str(exc)) from exc
    check_host(mqtt.host, "MQTT broker (NEXUS_MQTT_HOST)", allow_remote=allow_remote)
    dsn = env.get("NEXUS_DB_DSN") or None
    if dsn is not None:
        db_host = urlsplit(dsn).hostname
        if not db_host:
            raise TargetError("NEXUS_DB_DSN has no host: postgresql://user:password@host:port/db")
        check_host(db_host, "database (NEXUS_DB_DSN)", allow_remote=allow_remote)
    return Targets(mqtt.host, mqtt.port, mqtt.username, mqtt.password, dsn)
