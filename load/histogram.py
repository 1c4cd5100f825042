"""Quantiles of a Prometheus histogram, as PromQL's ``histogram_quantile`` estimates them.

The fleet load reads the gateway's ``nexus_gateway_poll_duration_seconds`` from its registry
before and after a measuring window: the difference is the window's histogram. A quantile is
interpolated linearly inside its bucket, so it is as fine as the buckets are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Histogram:
    buckets: Mapping[float, float]
    """Upper bound (``le``) → cumulative count; the last bound is +inf."""
    count: float
    sum: float

    def __sub__(self, earlier: Histogram) -> Histogram:
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.count - earlier.count,
            self.sum - earlier.sum,
        )

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count > 0 else None

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0 ≤ q ≤ 1), None without observations."""
        if not 0 <= q <= 1:
            raise ValueError("q must be within 0..1")
        bounds = sorted(self.buckets)
        if not bounds or self.count <= 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for le in bounds:
            cumulative = self.buckets[le]
            if cumulative >= rank:
                if math.isinf(le):  # beyond the largest finite bucket: its bound, as PromQL
                    return lower
                inside = cumulative - below
                fraction = (rank - below) / inside if inside > 0 else 1.0
                return lower + (le - lower) * fraction
            lower, below = le, cumulative
        return lower


def read_histogram(registry: Any, name: str) -> Histogram:
    """The histogram ``name`` of a prometheus_client registry, summed over its label sets."""
    buckets: dict[float, float] = {}
    count = total = 0.0
    for family in registry.collect():
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
            elif sample.name == f"{name}_count":
                count += sample.value
            elif sample.name == f"{name}_sum":
                total += sample.value
    return Histogram(buckets, count, total)
