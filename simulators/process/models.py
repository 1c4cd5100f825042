"""Every process model kind, as a device's `models:` entries are validated."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from simulators.process.alarm import Alarm
from simulators.process.conveyor import Conveyor
from simulators.process.energy import Energy
from simulators.process.machine import Machine
from simulators.process.motor import Motor
from simulators.process.tank import Tank

ProcessModel = Annotated[
    Machine | Motor | Tank | Conveyor | Energy | Alarm, Field(discriminator="kind")
]
"""One model of a device, chosen by its `kind`."""
