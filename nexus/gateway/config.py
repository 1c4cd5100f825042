"""The gateway's device configuration file (YAML), validated at load."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus.model.loading import load_yaml_model
from nexus.model.tags import Device


class GatewayConfig(BaseModel):
    """``devices:`` — the list of devices this gateway polls, of any protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    devices: list[Device] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_devices(self) -> GatewayConfig:
        seen: set[str] = set()
        for device in self.devices:
            if device.name in seen:
                raise ValueError(f"device name {device.name!r} is used twice")
            seen.add(device.name)
        return self

    @classmethod
    def load(cls, path: str | Path) -> GatewayConfig:
        return load_yaml_model(path, cls)
