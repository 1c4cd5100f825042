"""Cell results, per-protocol counts, the JSON summary and the human-readable table."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from nexus.conformance.matrix import Cell
from nexus.model.payload import PointPayload, Value


def same_value(expected: Value, got: Value) -> bool:
    """Equal values of the same JSON kind: NaN equals NaN, a bool is not a number, an int
    published for a float (or the reverse) is a failure."""
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, float) and isinstance(got, float):
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return expected == got
    if isinstance(expected, int) and isinstance(got, int):
        return expected == got
    if isinstance(expected, str) and isinstance(got, str):
        return expected == got
    return False


@dataclass(frozen=True, slots=True)
class CellResult:
    cell: Cell
    point: PointPayload | None

    @property
    def passed(self) -> bool:
        return (
            self.point is not None
            and self.point.q == self.cell.quality.label
            and same_value(self.cell.expected, self.point.v)
        )

    @property
    def reason(self) -> str:
        if self.point is None:
            return "nothing published"
        if self.passed:
            return "ok"
        return (
            f"expected {self.cell.expected!r} ({self.cell.quality.label}), "
            f"published {self.point.v!r} ({self.point.q})"
        )


class Report:
    """The results of one conformance run."""

    def __init__(self, results: list[CellResult]) -> None:
        self.results = results

    @property
    def failures(self) -> list[CellResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, dict[str, object]]:
        """Per protocol: cells passed and failed, and the data types covered."""
        out: dict[str, dict[str, object]] = {}
        for protocol in sorted({r.cell.protocol for r in self.results}):
            mine = [r for r in self.results if r.cell.protocol == protocol]
            out[protocol] = {
                "passed": sum(r.passed for r in mine),
                "failed": sum(not r.passed for r in mine),
                "types": sorted({r.cell.data_type for r in mine}),
            }
        return out

    def table(self) -> str:
        """One row per protocol and data type, then every failure."""
        rows: dict[tuple[str, str], list[CellResult]] = defaultdict(list)
        for result in self.results:
            rows[(result.cell.protocol, result.cell.data_type)].append(result)
        lines = [f"{'protocol':<8} {'type':<9} {'cells':>5} {'passed':>6} {'failed':>6}  variants"]
        for (protocol, data_type), results in rows.items():
            variants = sorted({r.cell.variant for r in results})
            lines.append(
                f"{protocol:<8} {data_type:<9} {len(results):>5} "
                f"{sum(r.passed for r in results):>6} {sum(not r.passed for r in results):>6}"
                f"  {', '.join(variants)}"
            )
        lines.append("")
        for protocol, counts in self.summary().items():
            lines.append(f"{protocol}: {counts['passed']} passed, {counts['failed']} failed")
        for result in self.failures:
            cell = result.cell
            lines.append(
                f"FAIL {cell.protocol} {cell.data_type} {cell.variant} {cell.case} "
                f"({cell.device}/{cell.tag}): {result.reason}"
            )
        return "\n".join(lines)
