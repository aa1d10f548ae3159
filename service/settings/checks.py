"""Checks across values that their types cannot express; each error names the first bad key."""

from __future__ import annotations

import ipaddress
import json

from service.settings.records import REDIS_SCHEMES, Settings, SettingsError

LOG_LEVELS = ("debug", "info", "warning", "error")


def _one_of(names: tuple[str, ...]) -> str:
    """`a, b or c`."""
    return ", ".join(names[:-1]) + " or " + names[-1]


def scrypt_memory(n: int, r: int, p: int) -> int:
    """Bytes that one scrypt computation with these parameters needs (OpenSSL's reckoning)."""
    return 128 * r * (n + p + 2)


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise SettingsError(f"{key}: {why}")


def validate(s: Settings) -> None:
    """Check values the types cannot; SettingsError names the first bad key."""
    check = _check
    check(1 <= s.server.port <= 65535, "server.port", "must be 1..65535")
    check(1 <= s.server.workers <= 256, "server.workers", "must be 1..256")
    check(s.server.shutdown_grace >= 0, "server.shutdown_grace", "must not be negative")
    check(s.server.client_max_size >= 1024, "server.client_max_size", "must be at least 1024")
    check(s.server.log_level in LOG_LEVELS, "server.log_level", f"must be {_one_of(LOG_LEVELS)}")
    for key in ("keepalive_timeout", "body_timeout"):
        check(
            0 < getattr(s.server, key) <= 3600, f"server.{key}", "must be more than 0, at most 3600"
        )
    check(
        s.redis.scheme in REDIS_SCHEMES,
        "redis.url",
        f"scheme must be {_one_of(tuple(REDIS_SCHEMES))}",
    )
    check(s.redis.pool_size >= 1, "redis.pool_size", "must be at least 1")
    check(s.redis.socket_timeout > 0, "redis.socket_timeout", "must be positive")
    check(s.redis.connect_timeout > 0, "redis.connect_timeout", "must be positive")
    check(s.redis.retry_attempts >= 0, "redis.retry_attempts", "must not be negative")
    check(
        bool(s.redis.key_prefix) and "{" not in s.redis.key_prefix,
        "redis.key_prefix",
        "must be non-empty, without braces",
    )
    if s.keys.json:
        try:
            json.loads(s.keys.json)
        except ValueError as e:
            raise SettingsError("keys.json: not valid JSON") from e
    check(
        bool(s.onezone.domain) and not any(c.isspace() for c in s.onezone.domain),
        "onezone.domain",
        "must be a non-empty name without spaces",
    )
    check(s.onezone.client_token_ttl > 0, "onezone.client_token_ttl", "must be positive")
    check(
        s.onezone.max_temporary_token_ttl > 0, "onezone.max_temporary_token_ttl", "must be positive"
    )
    check(s.onezone.max_token_size >= 256, "onezone.max_token_size", "must be at least 256")
    check(s.f5.token_ttl > 0, "f5.token_ttl", "must be positive")
    for key, networks in (
        ("server.trusted_proxies", s.server.trusted_proxies),
        ("auth_check.trusted_proxies", s.auth_check.trusted_proxies),
    ):
        for net in networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as e:
                raise SettingsError(f"{key}: not a network: {net!r}") from e
    check(s.cache.size >= 0, "cache.size", "must not be negative")
    check(s.cache.max_staleness > 0, "cache.max_staleness", "must be positive")
    n, r, p = s.scrypt.n, s.scrypt.r, s.scrypt.p
    check(n >= 2 and n & (n - 1) == 0, "scrypt.n", "must be a power of 2, at least 2")
    check(r >= 1, "scrypt.r", "must be at least 1")
    check(1 <= p <= 64, "scrypt.p", "must be 1..64")
    check(
        s.scrypt.maxmem >= scrypt_memory(n, r, p),
        "scrypt.maxmem",
        f"must be at least {scrypt_memory(n, r, p)} (128 * r * (n + p + 2) bytes) for these n, r, p",
    )
    check(
        s.basic_auth.max_password_checks >= 1, "basic_auth.max_password_checks", "must be positive"
    )
    check(
        s.basic_auth.password_check_queue >= 0,
        "basic_auth.password_check_queue",
        "must not be negative",
    )
