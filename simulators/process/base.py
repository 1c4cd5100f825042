"""What every process model has: inputs, outputs with units, and a runtime stepped in dt.

A model's *spec* is what the plant file says (a frozen pydantic model, one class per `kind`);
its *runtime* is the state of one model of one expanded device. The runtime is stepped with a
fixed step dt from t = 0 (`simulators.process.runtime.DeviceProcess`):

- `start(t0, x)` sets the state at step 0 from the inputs `x` at t = 0;
- `step(k, t, x)` moves the state from step k-1 to step k (t = k·dt): integrators advance over
  the interval with what held during it (their inputs and outputs at step k-1: a zero-order
  hold, like a PLC scan), then compute their outputs at step k from the inputs `x` at step k.

So what a tag serves between two steps is the value at the earlier step, and an integral (an
energy meter, a counter, a tank level) is exactly the integral of the values served before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.model.tags import Name
from simulators.signals import Constant, Counter, ModelRef, Ramp, RandomWalk, Schedule, Sine, Step


class TagRef(BaseModel):
    """A model input that reads a tag of the same device (what the tag serves, e.g. an alarm
    on a measured value). A tag served by a model output is that output; a replayed tag is the
    recording."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["tag"]
    tag: Name


InputSignal = Annotated[
    Sine | Ramp | RandomWalk | Step | Counter | Constant | Schedule | ModelRef | TagRef,
    Field(discriminator="kind"),
]
"""A model input given as a mapping: a signal of t, another model's output or a tag."""

Input = float | InputSignal
"""A model input: a number (constant) or an `InputSignal`."""

Bounds = tuple[float, float] | None


class ModelSpec(BaseModel):
    """The plant file's description of one model; subclasses add `kind` and parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str  # a Literal in each subclass: the discriminator

    INPUTS: ClassVar[tuple[str, ...]] = ()
    """The fields that are inputs (`Input` or None), in the order the runtime receives them."""
    OUTPUTS: ClassVar[dict[str, str]] = {}
    """Output name → unit (the unit a tag serving the output gets unless it sets its own)."""

    def inputs(self) -> dict[str, Input | None]:
        """Every input field by name (None: not set, the runtime receives 0)."""
        values: dict[str, Input | None] = {name: getattr(self, name) for name in self.INPUTS}
        return values

    def units(self) -> dict[str, str]:
        """Output name → unit, in the order of the runtime's `outputs`."""
        return dict(self.OUTPUTS)

    def output_bounds(self, output: str) -> Bounds:
        """The smallest and largest value `output` can take, or None when unknown/unbounded
        (then an integer tag saturates at its type's limits)."""
        return None

    def runtime(self, seed: int, dt: float) -> Runtime:
        """A fresh runtime (not started) of this model, seeded with `seed`, stepped every dt."""
        raise NotImplementedError  # pragma: no cover - overridden


class Runtime:
    """The state of one model of one device; `outputs` holds the values at the current step."""

    __slots__ = ("dt", "outputs", "seed")

    def __init__(self, seed: int, dt: float, outputs: int) -> None:
        self.seed = seed
        self.dt = dt
        self.outputs = [0.0] * outputs

    def start(self, t: float, x: Sequence[float]) -> None:
        """Set the state at step 0 (t = 0) from the inputs `x` then."""
        raise NotImplementedError  # pragma: no cover - overridden

    def step(self, k: int, t: float, x: Sequence[float]) -> None:
        """Move from step k-1 to step k (at time t = k·dt, inputs `x` at t)."""
        raise NotImplementedError  # pragma: no cover - overridden


def flag(on: bool) -> float:
    """A bool output: 1.0 or 0.0 (a bool tag is on when its value is > 0)."""
    return 1.0 if on else 0.0
