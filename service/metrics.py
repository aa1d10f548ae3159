"""Prometheus metrics, declared in one place.

With several workers, `token-service serve` points PROMETHEUS_MULTIPROC_DIR at
a fresh directory before starting them, and /metrics aggregates every worker's
files (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

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
REDIS_LATENCY = Histogram(
    "redis_operation_duration_seconds",
    "Store operation round-trip latency",
    ["operation"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0),
)
REDIS_ROUND_TRIPS = Counter("redis_round_trips_total", "Pipelines (round trips) sent to Redis")
REDIS_COMMANDS = Counter("redis_commands_total", "Commands sent to Redis in those round trips")
CACHE_HITS = Counter("revocation_cache_hits_total", "Verification lookups served from the cache")
CACHE_SIZE = Gauge(
    "revocation_cache_entries", "Entries in the verification cache", multiprocess_mode="livesum"
)


def render() -> tuple[bytes, str]:
    """The exposition text of this process, or of every worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
