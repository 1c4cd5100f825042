"""The one exception hierarchy of NEXUS Edge.

NexusError
├── ConfigError          invalid configuration; names the file and the field (CLI exit code 2)
├── StackError           the local stack (Mosquitto, PostgreSQL) could not start or stop
├── DeviceError          talking to one device failed; names the device
│   ├── DeviceTimeout        no answer within the device's timeout
│   ├── DeviceUnreachable    connection refused or lost
│   └── DeviceProtocolError  the device answered with an error (e.g. a Modbus exception)
├── PayloadError         an MQTT message cannot be stored; names the topic and the reason
└── BrokerError          the MQTT broker refused or dropped us
"""

from __future__ import annotations


class NexusError(Exception):
    """Base class of every error raised on purpose by NEXUS Edge."""


class ConfigError(NexusError):
    """A configuration file or value is invalid."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class StackError(NexusError):
    """A local stack service failed to start, become ready or stop."""


class DeviceError(NexusError):
    """Talking to one device failed."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"device {device}: {message}")


class DeviceTimeout(DeviceError):
    """The device did not answer within its timeout."""


class DeviceUnreachable(DeviceError):
    """The device refused or dropped the connection."""


class DeviceProtocolError(DeviceError):
    """The device answered with a protocol error."""


class PayloadError(NexusError):
    """An MQTT message cannot be parsed or stored."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"topic {topic}: {reason}")


class BrokerError(NexusError):
    """The MQTT broker refused the connection or a request."""


class NoSubscribersError(BrokerError):
    """The broker acknowledged a message with "no matching subscribers": nobody got it."""
