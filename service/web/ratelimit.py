"""RateLimit-Policy and RateLimit headers (draft-ietf-httpapi-ratelimit-headers-11)."""

from __future__ import annotations

import functools
import math

from aiohttp import web

from service.errors import RateLimitResult


def policy_header(result: RateLimitResult) -> str:
    """`"mint";q=600;w=60`: the quota and its window."""
    return _policy_header(result.policy, result.limit, result.period)


@functools.lru_cache(maxsize=64)
def _policy_header(policy: str, limit: int, period: float) -> str:
    return f'"{policy}";q={limit};w={math.ceil(period)}'


def limit_header(result: RateLimitResult) -> str:
    """`"mint";r=599;t=1`: what remains and when the quota is whole again."""
    return (
        f'"{result.policy}";r={max(0, result.remaining)};t={max(0, math.ceil(result.reset_after))}'
    )


def set_rate_limit_headers(response: web.StreamResponse, result: RateLimitResult) -> None:
    response.headers["RateLimit-Policy"] = policy_header(result)
    response.headers["RateLimit"] = limit_header(result)
