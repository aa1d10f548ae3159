"""Prometheus metrics, declared in one place.

With several workers, `token-service serve` points PROMETHEUS_MULTIPROC_DIR at
a fresh directory before starting them, and /metrics aggregates every worker's
files (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.adapters.prometheus import add_observations, histogram_bounds

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# kind: named | temporary | f5
TOKENS_MINTED = Counter("tokens_minted_total", "Tokens minted", ["kind"])
# By /auth/check and the Onezone verify routes; result: valid | invalid | forbidden | unavailable
VERIFICATIONS = Counter("token_verifications_total", "Token verifications", ["result"])
RATE_LIMITED = Counter(
    "rate_limited_requests_total", "Requests refused by a rate limit", ["policy"]
)
DEPRECATED_REQUESTS = Counter(
    "deprecated_requests_total", "Requests to deprecated routes", ["method", "route"]
)
REDIS_ERRORS = Counter("redis_errors_total", "Store operations that failed", ["kind"])
# The name says "operation" and once meant a round trip; the HELP says what it times.
REDIS_LATENCY = Histogram(
    "redis_operation_duration_seconds",
    "Duration of a store method, every Redis round trip it makes included",
    ["operation"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
REDIS_ROUND_TRIPS = Counter("redis_round_trips_total", "Pipelines (round trips) sent to Redis")
REDIS_COMMANDS = Counter("redis_commands_total", "Commands sent to Redis in those round trips")
# The name says "revocation"; the HELP says what it counts (README, Metrics).
CACHE_HITS = Counter(
    "revocation_cache_hits_total",
    "Lookups served from the process cache without Redis: token verifications and user records",
)
CACHE_SIZE = Gauge(
    "revocation_cache_entries", "Entries in the verification cache", multiprocess_mode="livesum"
)


class Tally:
    """Counts and observations of the hot path, held in plain numbers until a flush.

    prometheus-client takes a lock per `inc` and `observe` (and in multiprocess
    mode writes to a memory-mapped file), several times per request. Here a
    request only adds to a dict; `flush` hands the totals to the metrics when
    /metrics is rendered and, for the other workers of a multiprocess set-up,
    every `FLUSH_INTERVAL` seconds (`flush_periodically`).
    """

    def __init__(self) -> None:
        self._counts: dict[Any, float] = {}
        # child -> (its bucket bounds, [sum, count per bucket...])
        self._histograms: dict[Any, tuple[tuple[float, ...], list[float]]] = {}

    def inc(self, child: Any, amount: float = 1.0) -> None:
        """Add `amount` to a counter child (`Counter.labels(...)` or a label-less counter)."""
        counts = self._counts
        counts[child] = counts.get(child, 0.0) + amount

    def observe(self, child: Any, value: float) -> None:
        """Record one observation of a histogram child."""
        entry = self._histograms.get(child)
        if entry is None:
            bounds = histogram_bounds(child)
            entry = self._histograms[child] = (bounds, [0.0] * (len(bounds) + 1))
        bounds, totals = entry
        totals[0] += value
        # Prometheus buckets are upper-inclusive: the first bound >= value.
        totals[1 + bisect.bisect_left(bounds, value)] += 1

    def flush(self) -> None:
        """Hand everything recorded so far to the Prometheus metrics."""
        counts, self._counts = self._counts, {}
        for child, amount in counts.items():
            child.inc(amount)
        histograms, self._histograms = self._histograms, {}
        for child, (_, totals) in histograms.items():
            add_observations(child, totals[0], totals[1:])


TALLY = Tally()
FLUSH_INTERVAL = 1.0


async def flush_periodically(interval: float = FLUSH_INTERVAL) -> None:
    """Flush the tally every `interval` seconds until cancelled (then once more)."""
    try:
        while True:
            await asyncio.sleep(interval)
            TALLY.flush()
    finally:
        with contextlib.suppress(Exception):
            TALLY.flush()


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of every worker in multiprocess mode."""
    TALLY.flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
