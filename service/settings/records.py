"""The typed settings: one frozen record per section of config/default.toml.

Each record's defaults are those of default.toml, where every key is documented;
`Settings()` is therefore usable without loading anything (tests build on it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SettingsError(ValueError):
    """A setting is missing, of the wrong type or out of range; the message names it."""


class Secret(str):
    """A string that never shows itself in repr, str() of containers or logs."""

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"


# The schemes `redis.url` accepts, in the order error messages list them, with
# what each connects to (the store opens each kind).
REDIS_SCHEMES: Mapping[str, str] = {
    "memory": "the embedded store inside this process; its state dies with the process",
    "redis": "one Redis server over TCP",
    "rediss": "one Redis server over TLS",
    "redis+sentinel": "the master of a Sentinel service: host:port[,host:port]/service[/db]",
    "redis+cluster": "a Redis Cluster: host:port[,host:port]",
    "unix": "one Redis server on a Unix socket",
}
EMBEDDED_SCHEME = "memory"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`[server]`: the listener, its workers and its timeouts."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    shutdown_grace: float = 10.0
    client_max_size: int = 65536
    log_level: str = "info"
    keepalive_timeout: float = 5.0
    body_timeout: float = 5.0
    # Networks whose X-Forwarded-* headers the API routes believe (not /auth/check).
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """`[redis]`: where the store lives and how long to wait for it."""

    # One of REDIS_SCHEMES, then what that scheme needs.
    url: str = "memory://"
    pool_size: int = 64
    socket_timeout: float = 1.0
    connect_timeout: float = 1.0
    retry_attempts: int = 1
    key_prefix: str = "ts"

    @property
    def scheme(self) -> str:
        """The URL's scheme (`redis+sentinel`), or "" when it has none."""
        head, sep, _ = self.url.partition("://")
        return head if sep else ""

    @property
    def embedded(self) -> bool:
        """True for `memory://`: the store lives and dies inside one service process."""
        return self.scheme == EMBEDDED_SCHEME


@dataclass(frozen=True, slots=True)
class KeysSettings:
    """`[keys]`: the signing keys, from a file or inline JSON."""

    file: str = ""
    json: Secret = Secret("")


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """`[admin]`: the bootstrap administrator."""

    password: Secret = Secret("")


@dataclass(frozen=True, slots=True)
class OnezoneSettings:
    """`[onezone]`: the Onezone token dialect."""

    domain: str = "onezone"
    client_token_ttl: int = 2592000
    max_temporary_token_ttl: int = 604800
    max_token_size: int = 4096


@dataclass(frozen=True, slots=True)
class F5Settings:
    """`[f5]`: the F5 token dialect."""

    token_ttl: int = 86400
    token_header: str = "X-F5-Api-Token"


@dataclass(frozen=True, slots=True)
class AuthCheckSettings:
    """`[auth_check]`: whom /auth/check believes about the original request."""

    trusted_proxies: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, slots=True)
class BasicAuthSettings:
    """`[basic_auth]`: how many password hashes run and wait at once."""

    # Password hashes (scrypt) checked at once per process.
    max_password_checks: int = 4
    # Basic logins that may wait for one of those; past them, 429.
    password_check_queue: int = 64


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """`[cache]`: the per-process cache of verification lookups."""

    size: int = 10_000
    max_staleness: float = 1.0


@dataclass(frozen=True, slots=True)
class ScryptSettings:
    """`[scrypt]`: the cost of new password hashes and the memory bound of every check."""

    n: int = 2**14
    r: int = 8
    p: int = 1
    maxmem: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """One GCRA policy: `limit` requests per `period` seconds, bursts up to `limit`."""

    # The policy's name in config and in the Redis keys of its counters.
    name: str
    # Requests allowed per period, and the largest burst; at least 1.
    limit: int
    # Seconds over which `limit` requests are allowed; positive.
    period: float


@dataclass(frozen=True, slots=True)
class RateLimits:
    """`[rate_limits.<policy>]`: one field per policy, named as in config."""

    # Onezone tokens minted per user, named and temporary alike.
    mint: RateLimitPolicy = RateLimitPolicy("mint", 600, 60.0)
    # F5 generate_token calls per user, across every application and namespace.
    generate_token: RateLimitPolicy = RateLimitPolicy("generate_token", 600, 60.0)
    # F5 generate_token calls per application, whoever calls.
    generate_token_app: RateLimitPolicy = RateLimitPolicy("generate_token_app", 3000, 60.0)
    # Failed Basic password checks per user name and client address, before a lockout.
    failed_login: RateLimitPolicy = RateLimitPolicy("failed_login", 10, 300.0)
    # Failed Basic password checks per client address, whatever the user (spraying).
    failed_login_ip: RateLimitPolicy = RateLimitPolicy("failed_login_ip", 50, 300.0)


RATE_LIMIT_POLICIES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RateLimits))


@dataclass(frozen=True, slots=True)
class Deprecation:
    """One `[[deprecations]]` entry: a route answered with Deprecation/Sunset/Link headers."""

    method: str
    path: str
    successor: str
    deprecation: datetime
    sunset: datetime
    link: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the service, one record per section."""

    server: ServerSettings = field(default_factory=ServerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    keys: KeysSettings = field(default_factory=KeysSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    onezone: OnezoneSettings = field(default_factory=OnezoneSettings)
    f5: F5Settings = field(default_factory=F5Settings)
    auth_check: AuthCheckSettings = field(default_factory=AuthCheckSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    scrypt: ScryptSettings = field(default_factory=ScryptSettings)
    basic_auth: BasicAuthSettings = field(default_factory=BasicAuthSettings)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    deprecations: tuple[Deprecation, ...] = ()

    def replace(self, **sections: Any) -> Settings:
        """A copy with whole sections or single `section__key` values replaced (for tests)."""
        changes: dict[str, Any] = {}
        for name, value in sections.items():
            if "__" in name:
                section, key = name.split("__", 1)
                base = changes.get(section, getattr(self, section))
                changes[section] = dataclasses.replace(base, **{key: value})
            else:
                changes[name] = value
        return dataclasses.replace(self, **changes)


# The sections made of plain keys, by their name in config (rate_limits and
# deprecations have shapes of their own).
SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "redis": RedisSettings,
    "keys": KeysSettings,
    "admin": AdminSettings,
    "onezone": OnezoneSettings,
    "f5": F5Settings,
    "auth_check": AuthCheckSettings,
    "cache": CacheSettings,
    "scrypt": ScryptSettings,
    "basic_auth": BasicAuthSettings,
}
