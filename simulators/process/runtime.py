"""One expanded device's models, stepped together from t = 0, and the tags bound to them.

Determinism: the value at simulated time t is the state at step k = floor(t / dt), reached from
step 0 one step at a time, so it depends on t alone, never on when or in which order values were
asked for, nor on how fast simulated time runs. The latest (step, state) is memoised: asking for
a later time costs the steps since the last request (a request within the same step is a list
index); asking for an earlier time recomputes from step 0. Random parts (machine faults) use the
counter-based PRNG keyed by the model's seed and the step number, so they do not depend on the
path either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from simulators.process.base import Bounds, Input, ModelSpec, Runtime, TagRef
from simulators.process.validation import (
    PlantTagLike,
    dependencies,
    ref_bounds,
    ref_unit,
    topological,
)
from simulators.signals import ModelRef, Signal, Source, model_seed, tag_seed

Getter = Callable[[float], float]

_EPSILON = 1e-9
"""floor(t / dt + ε): k·dt must fall in step k although k·dt / dt may be k − 1 ulp in floats."""


class DeviceProcess:
    """The models of one expanded device, in dependency order, with their current step."""

    __slots__ = ("_dt", "_getters", "_k", "_runtimes")

    def __init__(self, dt: float, models: Sequence[tuple[Runtime, Sequence[Getter]]]) -> None:
        self._dt = dt
        self._runtimes = [runtime for runtime, _ in models]
        self._getters = [tuple(getters) for _, getters in models]
        self._k = -1

    @property
    def dt(self) -> float:
        return self._dt

    def step_of(self, t: float) -> int:
        """The step whose state is served at simulated time `t` (0 before t = 0)."""
        return max(0, math.floor(t / self._dt + _EPSILON))

    def value(self, t: float, model: int, output: int) -> float:
        """Output `output` of model `model` (dependency order) at simulated time `t`."""
        k = self.step_of(t)
        if k != self._k:
            self._advance(k)
        return self._runtimes[model].outputs[output]

    def _advance(self, k: int) -> None:
        pairs = list(zip(self._runtimes, self._getters, strict=True))
        if k < self._k or self._k < 0:
            for runtime, getters in pairs:
                runtime.start(0.0, [g(0.0) for g in getters])
            self._k = 0
        dt = self._dt
        for j in range(self._k + 1, k + 1):
            t = j * dt
            for runtime, getters in pairs:
                runtime.step(j, t, [g(t) for g in getters])
        self._k = k


@dataclass(frozen=True, slots=True, eq=False)
class ModelOutput:
    """A tag's source bound to one output of its device's models: output · scale + offset."""

    process: DeviceProcess
    model: int
    output: int
    scale: float
    offset: float
    limits: Bounds
    name: str
    kind: str = "model"

    def at(self, t: float, seed: int) -> float:
        return self.process.value(t, self.model, self.output) * self.scale + self.offset

    def sample(self, t: float, seed: int) -> float:
        return self.at(t, seed)

    def bounds(self) -> Bounds:
        return self.limits


@dataclass(frozen=True, slots=True)
class BoundTag:
    """What one tag of an expanded device serves: its source, its seed and, for a model output
    on a tag without a unit, the output's unit."""

    source: Source
    seed: int
    unit: str | None = None


def bind_tags(
    plant_seed: int,
    device: str,
    dt: float,
    models: Mapping[str, ModelSpec],
    tags: Sequence[PlantTagLike],
    replayed: Mapping[str, Source] | None = None,
) -> list[BoundTag]:
    """The source of every tag of one expanded device (same order as `tags`).

    A replayed tag serves the recording; a tag whose signal is a model output serves that
    output of this device's own models (a fresh `DeviceProcess`); any other its signal.
    """
    replayed = replayed or {}
    seeds = {t.name: tag_seed(plant_seed, device, t.name) for t in tags}
    by_name = {t.name: t for t in tags}
    process, index = (
        _process(plant_seed, device, dt, models, by_name, seeds, replayed) if models else (None, {})
    )
    bound: list[BoundTag] = []
    for tag in tags:
        seed = seeds[tag.name]
        signal = tag.signal
        if tag.name in replayed:
            # a replayed model tag keeps the output's unit: the gateway sees the same tags
            unit = ref_unit(models, signal) if isinstance(signal, ModelRef) else ""
            bound.append(BoundTag(replayed[tag.name], seed, unit or None))
        elif isinstance(signal, ModelRef) and process is not None:
            model, output = index[(signal.model, signal.output)]
            source = ModelOutput(
                process,
                model,
                output,
                signal.scale,
                signal.offset,
                ref_bounds(models, signal),
                f"{signal.model}.{signal.output}",
            )
            bound.append(BoundTag(source, seed, ref_unit(models, signal) or None))
        else:
            bound.append(BoundTag(signal, seed))
    return bound


def _process(
    plant_seed: int,
    device: str,
    dt: float,
    models: Mapping[str, ModelSpec],
    tags: Mapping[str, PlantTagLike],
    seeds: Mapping[str, int],
    replayed: Mapping[str, Source],
) -> tuple[DeviceProcess, dict[tuple[str, str], tuple[int, int]]]:
    """The device's process and (model, output) → (model index, output index) in it."""
    order = topological(dependencies(models, tags, frozenset(replayed)))
    runtimes: dict[str, Runtime] = {
        name: models[name].runtime(model_seed(plant_seed, device, name), dt) for name in order
    }
    index: dict[tuple[str, str], tuple[int, int]] = {}
    for mi, name in enumerate(order):
        for oi, output in enumerate(models[name].units()):
            index[(name, output)] = (mi, oi)

    def read(ref: ModelRef) -> Getter:
        outputs = runtimes[ref.model].outputs
        i = index[(ref.model, ref.output)][1]
        scale, offset = ref.scale, ref.offset
        return lambda t: outputs[i] * scale + offset

    def signal(sig: Signal, seed: int) -> Getter:
        # a private copy: a memoised signal (random walk) read here at every step must not
        # share its memo with the tag that serves it, or each would rewind the other
        own = sig.model_copy(deep=True)
        return lambda t: own.at(t, seed)

    def getter(name: str, field: str, value: Input | None) -> Getter:
        if value is None:
            return lambda t: 0.0
        if isinstance(value, int | float):
            constant = float(value)
            return lambda t: constant
        if isinstance(value, ModelRef):
            return read(value)
        if isinstance(value, TagRef):
            if value.tag in replayed:
                source = replayed[value.tag]
                return lambda t: source.at(t, 0)
            tag = tags[value.tag]
            if isinstance(tag.signal, ModelRef):
                return read(tag.signal)
            return signal(tag.signal, seeds[value.tag])
        return signal(value, tag_seed(plant_seed, device, f"model:{name}.{field}"))

    entries = [
        (runtimes[name], [getter(name, f, v) for f, v in models[name].inputs().items()])
        for name in order
    ]
    return DeviceProcess(dt, entries), index
