"""A device's models checked against each other and its tags, with the location of each problem.

The plant validator turns each (location, message) into an error naming the plant file, the
line and the field: an unknown model or output (from a tag or a model input), an unknown or
text tag read by a model, and models that depend on each other in a cycle (directly, or through
a tag that serves another model's output).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

from simulators.process.base import Bounds, Input, ModelSpec, TagRef
from simulators.signals import ModelRef, Signal, Text

Loc = tuple[int | str, ...]


class PlantTagLike(Protocol):
    """A plant file tag of any protocol: what the model checks need of it."""

    @property
    def name(self) -> str: ...

    @property
    def signal(self) -> Signal: ...


def _names(names: Sequence[str] | Mapping[str, object]) -> str:
    return ", ".join(names) if names else "none"


def ref_problem(models: Mapping[str, ModelSpec], ref: ModelRef) -> tuple[str, str] | None:
    """(field, message) if `ref` names no model of the device or no output of that model."""
    spec = models.get(ref.model)
    if spec is None:
        return "model", f"the device has no model {ref.model!r} (its models: {_names(models)})"
    units = spec.units()
    if ref.output not in units:
        return (
            "output",
            f"model {ref.model} ({spec.kind}) has no output {ref.output!r} "
            f"(its outputs: {_names(units)})",
        )
    return None


def ref_bounds(models: Mapping[str, ModelSpec], ref: ModelRef) -> Bounds:
    """The bounds of a model output as the tag serves it (· scale + offset), if known."""
    bounds = models[ref.model].output_bounds(ref.output)
    if bounds is None:
        return None
    a, b = (v * ref.scale + ref.offset for v in bounds)
    return min(a, b), max(a, b)


def ref_unit(models: Mapping[str, ModelSpec], ref: ModelRef) -> str:
    """The unit of the output a tag serves ("" when scaled: the unit changed)."""
    if ref.scale != 1 or ref.offset != 0:
        return ""
    return models[ref.model].units()[ref.output]


def input_dependency(
    value: Input | None, tags: Mapping[str, PlantTagLike], replayed: frozenset[str] = frozenset()
) -> str | None:
    """The model an input reads from: a model output, or a tag serving one (unless replayed)."""
    if isinstance(value, ModelRef):
        return value.model
    if isinstance(value, TagRef) and value.tag not in replayed:
        tag = tags.get(value.tag)
        if tag is not None and isinstance(tag.signal, ModelRef):
            return tag.signal.model
    return None


def model_problems(
    loc: Loc, models: Mapping[str, ModelSpec], tags: Sequence[PlantTagLike]
) -> Iterator[tuple[Loc, str]]:
    """Every problem of the device at `loc` with its models; the location names the field."""
    by_name = {t.name: t for t in tags}
    for ti, tag in enumerate(tags):
        if isinstance(tag.signal, ModelRef):
            problem = ref_problem(models, tag.signal)
            if problem is not None:
                yield (*loc, "tags", ti, "signal", problem[0]), problem[1]
    for name, spec in models.items():
        for field, value in spec.inputs().items():
            where: Loc = (*loc, "models", name, field)
            if isinstance(value, ModelRef):
                problem = ref_problem(models, value)
                if problem is not None:
                    yield (*where, problem[0]), problem[1]
            elif isinstance(value, TagRef):
                read = by_name.get(value.tag)
                if read is None:
                    yield (
                        (*where, "tag"),
                        f"the device has no tag {value.tag!r} (its tags: {_names(list(by_name))})",
                    )
                elif isinstance(read.signal, Text):
                    yield (*where, "tag"), f"tag {value.tag} serves text; a model input is a number"
    yield from _cycle_problems(loc, models, by_name)


def dependencies(
    models: Mapping[str, ModelSpec],
    tags: Mapping[str, PlantTagLike],
    replayed: frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """Model name → the models it reads from (known models only), in input order."""
    graph: dict[str, list[str]] = {}
    for name, spec in models.items():
        deps = (input_dependency(v, tags, replayed) for v in spec.inputs().values())
        graph[name] = list(dict.fromkeys(d for d in deps if d is not None and d in models))
    return graph


def _cycle_problems(
    loc: Loc, models: Mapping[str, ModelSpec], tags: Mapping[str, PlantTagLike]
) -> Iterator[tuple[Loc, str]]:
    graph = dependencies(models, tags)
    done: set[str] = set()
    for first in graph:
        if first in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        cycle = _find_cycle(first, graph, path, on_path, done)
        if cycle is not None:
            yield (
                (*loc, "models", cycle[0]),
                f"models {' → '.join(cycle)} depend on each other in a cycle "
                "(a model cannot read its own output, even through other models or tags)",
            )
            done.update(cycle)


def _find_cycle(
    name: str, graph: Mapping[str, list[str]], path: list[str], on_path: set[str], done: set[str]
) -> list[str] | None:
    """Depth first from `name`: the first cycle found, closed (a → b → a), or None."""
    if name in on_path:
        return [*path[path.index(name) :], name]
    if name in done:
        return None
    path.append(name)
    on_path.add(name)
    for dep in graph[name]:
        cycle = _find_cycle(dep, graph, path, on_path, done)
        if cycle is not None:
            return cycle
    path.pop()
    on_path.discard(name)
    done.add(name)
    return None


def topological(graph: Mapping[str, list[str]]) -> list[str]:
    """The models in an order where each comes after those it reads from (file order else)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in graph[name]:
            visit(dep)
        order.append(name)

    for name in graph:
        visit(name)
    return order
