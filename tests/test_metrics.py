"""The tally of hot-path metrics: what it hands to prometheus-client equals direct use."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from service.metrics import Tally

BUCKETS = (0.001, 0.01, 0.1, 1.0)
VALUES = (0.0, 0.0005, 0.001, 0.0010001, 0.01, 0.05, 0.1, 0.99, 1.0, 7.0, math.inf)


def _exposition(registry: CollectorRegistry) -> list[str]:
    # `_created` samples are timestamps of the metric objects, not of what was counted.
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


def _pair() -> tuple[CollectorRegistry, Histogram, Counter, CollectorRegistry, Histogram, Counter]:
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    return (
        direct,
        Histogram("latency", "l", ["route"], buckets=BUCKETS, registry=direct),
        Counter("hits", "h", ["route"], registry=direct),
        tallied,
        Histogram("latency", "l", ["route"], buckets=BUCKETS, registry=tallied),
        Counter("hits", "h", ["route"], registry=tallied),
    )


def test_flush_equals_direct_observation() -> None:
    direct, h1, c1, tallied, h2, c2 = _pair()
    tally = Tally()
    for route in ("/a", "/b"):
        for v in VALUES:
            h1.labels(route).observe(v)
            tally.observe(h2.labels(route), v)
            c1.labels(route).inc()
            tally.inc(c2.labels(route))
        c1.labels(route).inc(2.5)
        tally.inc(c2.labels(route), 2.5)
    assert _exposition(direct) != _exposition(tallied)  # nothing handed over yet
    tally.flush()
    assert _exposition(direct) == _exposition(tallied)


def test_a_flush_hands_over_only_what_is_new() -> None:
    direct, h1, c1, tallied, h2, c2 = _pair()
    tally = Tally()
    for v in VALUES[:4]:
        h1.labels("/a").observe(v)
        tally.observe(h2.labels("/a"), v)
    tally.flush()
    tally.flush()
    for v in VALUES[4:]:
        h1.labels("/a").observe(v)
        tally.observe(h2.labels("/a"), v)
    c1.labels("/a").inc()
    tally.inc(c2.labels("/a"))
    tally.flush()
    assert _exposition(direct) == _exposition(tallied)
