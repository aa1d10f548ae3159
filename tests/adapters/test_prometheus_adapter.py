"""prometheus-client still keeps a histogram child's bounds, sum and buckets where the adapter reads them."""

from __future__ import annotations

import math
from importlib import metadata

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from service.adapters.prometheus import add_observations, histogram_bounds

BUCKETS = (0.01, 0.1, 1.0)
UPDATE = "update service/adapters/prometheus.py"


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("latency", "l", ["route"], buckets=BUCKETS, registry=registry)


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_a_histogram_child_keeps_its_private_values() -> None:
    _, histogram = _histogram()
    child = histogram.labels("/a")
    version = "prometheus-client " + metadata.version("prometheus-client")
    for name in ("_upper_bounds", "_sum", "_buckets"):
        assert hasattr(child, name), f"{version}: Histogram children have no {name}: {UPDATE}"
    assert list(child._upper_bounds) == [*BUCKETS, math.inf], (
        f"Histogram._upper_bounds no longer lists the bounds with +Inf last: {UPDATE}"
    )
    assert len(child._buckets) == len(child._upper_bounds), (
        f"Histogram._buckets no longer holds one value per bound: {UPDATE}"
    )
    for value in (child._sum, *child._buckets):
        assert callable(getattr(value, "inc", None)), f"a histogram value has no inc(): {UPDATE}"


def test_bounds_are_the_configured_buckets_and_inf() -> None:
    _, histogram = _histogram()
    assert histogram_bounds(histogram.labels("/a")) == (*BUCKETS, math.inf)


def test_added_observations_equal_observe() -> None:
    """Buckets hold non-cumulative counts: an observation counts in the first bound >= it."""
    direct, h1 = _histogram()
    added, h2 = _histogram()
    values = (0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 3.0, math.inf)
    for v in values:
        h1.labels("/a").observe(v)
    counts = [0.0] * (len(BUCKETS) + 1)
    for v in values:
        counts[next(i for i, b in enumerate((*BUCKETS, math.inf)) if v <= b)] += 1
    add_observations(h2.labels("/a"), sum(values), counts)
    assert _lines(direct) == _lines(added), (
        f"a histogram's sum and buckets no longer add up as observe() does: {UPDATE}"
    )
