"""Quantiles of the gateway's poll-duration histogram, as PromQL estimates them."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client import Histogram as PromHistogram

from load.histogram import Histogram, read_histogram

INF = math.inf


def test_quantiles_interpolate_inside_the_bucket() -> None:
    h = Histogram({0.01: 50, 0.1: 90, 1.0: 100, INF: 100}, count=100, sum=5.0)
    assert h.quantile(0.5) == pytest.approx(0.01)
    assert h.quantile(0.7) == pytest.approx(0.01 + 0.09 * 0.5)
    assert h.quantile(0.25) == pytest.approx(0.005)
    assert h.mean == pytest.approx(0.05)


def test_beyond_the_largest_bucket_is_its_bound() -> None:
    h = Histogram({0.1: 1, INF: 10}, count=10, sum=20)
    assert h.quantile(0.95) == 0.1


def test_no_observations_no_quantile() -> None:
    assert Histogram({0.1: 0, INF: 0}, count=0, sum=0).quantile(0.5) is None
    assert Histogram({}, 0, 0).mean is None


def test_a_window_is_the_difference_of_two_readings() -> None:
    registry = CollectorRegistry()
    hist = PromHistogram("poll_seconds", "test", registry=registry, buckets=(0.01, 0.1, 1))
    for _ in range(10):
        hist.observe(0.5)
    before = read_histogram(registry, "poll_seconds")
    for _ in range(4):
        hist.observe(0.005)
    window = read_histogram(registry, "poll_seconds") - before
    assert window.count == 4
    assert window.quantile(0.99) == pytest.approx(0.0099)
    assert window.sum == pytest.approx(0.02)
