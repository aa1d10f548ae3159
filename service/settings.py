"""Typed settings: config/default.toml < a config file < TOKEN_SERVICE_* environment.

Every setting is validated at load; a bad value raises `SettingsError` naming
the key (`redis.url`, or the environment variable that carried it).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

ENV_PREFIX = "TOKEN_SERVICE_"
CONFIG_ENV = "TOKEN_SERVICE_CONFIG"
SECRET_KEYS = frozenset({"admin.password", "keys.json"})


class SettingsError(ValueError):
    """A setting is missing, of the wrong type or out of range; the message names it."""


class Secret(str):
    """A string that never shows itself in repr, str() of containers or logs."""

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"


@dataclass(frozen=True, slots=True)
class ServerSettings:
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
    url: str = "memory://"
    pool_size: int = 64
    socket_timeout: float = 1.0
    connect_timeout: float = 1.0
    retry_attempts: int = 1
    key_prefix: str = "ts"


@dataclass(frozen=True, slots=True)
class KeysSettings:
    file: str = ""
    json: Secret = Secret("")


@dataclass(frozen=True, slots=True)
class AdminSettings:
    password: Secret = Secret("")


@dataclass(frozen=True, slots=True)
class OnezoneSettings:
    domain: str = "onezone"
    client_token_ttl: int = 2592000
    max_temporary_token_ttl: int = 604800
    max_token_size: int = 4096


@dataclass(frozen=True, slots=True)
class F5Settings:
    token_ttl: int = 86400
    token_header: str = "X-F5-Api-Token"


@dataclass(frozen=True, slots=True)
class AuthCheckSettings:
    trusted_proxies: tuple[str, ...] = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, slots=True)
class BasicAuthSettings:
    # Password hashes (scrypt) checked at once per process.
    max_password_checks: int = 4
    # Basic logins that may wait for one of those; past them, 429.
    password_check_queue: int = 64


@dataclass(frozen=True, slots=True)
class CacheSettings:
    size: int = 10_000
    max_staleness: float = 1.0


@dataclass(frozen=True, slots=True)
class ScryptSettings:
    n: int = 2**14
    r: int = 8
    p: int = 1
    maxmem: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    name: str
    limit: int
    period: float


@dataclass(frozen=True, slots=True)
class Deprecation:
    method: str
    path: str
    successor: str
    deprecation: datetime
    sunset: datetime
    link: str


@dataclass(frozen=True, slots=True)
class Settings:
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
    rate_limits: Mapping[str, RateLimitPolicy] = field(default_factory=dict)
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


def default_config_text() -> str:
    """The documented defaults shipped with the package (config/default.toml)."""
    return resources.files("service").joinpath("default.toml").read_text(encoding="utf-8")


def load(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate settings from the defaults, a config file and the environment."""
    env = os.environ if environ is None else environ
    data = tomllib.loads(default_config_text())
    config_file = config_file or env.get(CONFIG_ENV) or None
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                _merge(data, tomllib.load(fh), "")
        except OSError as e:
            raise SettingsError(f"config file {config_file}: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"config file {config_file}: {e}") from e
    _apply_environment(data, env)
    return from_mapping(data)


def from_mapping(data: Mapping[str, Any]) -> Settings:
    """Build validated settings from a nested mapping shaped like default.toml."""
    known = set(SECTIONS) | {"rate_limits", "deprecations"}
    for name in data:
        if name not in known:
            raise SettingsError(f"{name}: unknown section")
    kwargs: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        kwargs[name] = _build_section(name, cls, data.get(name, {}))
    kwargs["rate_limits"] = _build_rate_limits(data.get("rate_limits", {}))
    kwargs["deprecations"] = _build_deprecations(data.get("deprecations", []))
    settings = Settings(**kwargs)
    validate(settings)
    return settings


def _merge(base: dict[str, Any], override: Mapping[str, Any], path: str) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, f"{path}{key}.")
        else:
            base[key] = value


def _env_name(*parts: str) -> str:
    return ENV_PREFIX + "_".join(p.upper().replace(".", "_").replace("-", "_") for p in parts)


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> None:
    names: dict[str, tuple[str, ...]] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            names[_env_name(section, f.name)] = (section, f.name)
    for policy in data.get("rate_limits", {}):
        for key in ("limit", "period"):
            names[_env_name("rate_limits", policy, key)] = ("rate_limits", policy, key)
    used: set[str] = set()
    for var, path in names.items():
        dotted = ".".join(path)
        file_var = var + "_FILE"
        if dotted in SECRET_KEYS and file_var in env:
            used.add(file_var)
            try:
                value = Path(env[file_var]).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise SettingsError(f"{file_var}: cannot read {dotted}: {e.strerror}") from e
        elif var in env:
            used.add(var)
            value = env[var]
        else:
            continue
        target = data
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = _EnvValue(var, value)
    for var in env:
        if var.startswith(ENV_PREFIX) and var not in used and var != CONFIG_ENV:
            raise SettingsError(f"{var}: unknown setting")


class _EnvValue(str):
    """A raw string from the environment, remembering the variable it came from."""

    var: str

    def __new__(cls, var: str, value: str) -> _EnvValue:
        obj = super().__new__(cls, value)
        obj.var = var
        return obj


def _label(section: str, key: str, value: object) -> str:
    if isinstance(value, _EnvValue):
        return f"{value.var} ({section}.{key})"
    return f"{section}.{key}"


def _coerce(label: str, tp: Any, value: object) -> Any:
    origin = typing.get_origin(tp)
    if tp is Secret:
        if not isinstance(value, str):
            raise SettingsError(f"{label}: expected a string")
        return Secret(value)
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(f"{label}: expected a string, got {type(value).__name__}")
        return str(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return value.lower() in {"1", "true", "yes", "on"}
        raise SettingsError(f"{label}: expected true or false")
    if tp is int:
        if isinstance(value, bool):
            raise SettingsError(f"{label}: expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise SettingsError(f"{label}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise SettingsError(f"{label}: expected a number")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise SettingsError(f"{label}: expected a number, got {value!r}")
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise SettingsError(f"{label}: expected a list")
        return tuple(_coerce(label, item_tp, v) for v in value)
    raise SettingsError(f"{label}: unsupported type")  # pragma: no cover


def _build_section(name: str, cls: type[Any], raw: object) -> Any:
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{name}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise SettingsError(f"{name}.{key}: unknown setting")
        kwargs[key] = _coerce(_label(name, key, value), hints[key], value)
    return cls(**kwargs)


def _build_rate_limits(raw: object) -> dict[str, RateLimitPolicy]:
    if not isinstance(raw, Mapping):
        raise SettingsError("rate_limits: expected a table")
    policies = {}
    for name, values in raw.items():
        if not isinstance(values, Mapping):
            raise SettingsError(f"rate_limits.{name}: expected a table")
        for key in values:
            if key not in {"limit", "period"}:
                raise SettingsError(f"rate_limits.{name}.{key}: unknown setting")
        section = f"rate_limits.{name}"
        try:
            limit_raw, period_raw = values["limit"], values["period"]
        except KeyError as e:
            raise SettingsError(f"{section}.{e.args[0]}: missing") from e
        limit = _coerce(_label(section, "limit", limit_raw), int, limit_raw)
        period = _coerce(_label(section, "period", period_raw), float, period_raw)
        if limit < 1:
            raise SettingsError(f"{section}.limit: must be at least 1")
        if period <= 0:
            raise SettingsError(f"{section}.period: must be positive")
        policies[name] = RateLimitPolicy(name=name, limit=limit, period=period)
    return policies


def _parse_date(label: str, value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as e:
            raise SettingsError(f"{label}: not an ISO 8601 date-time: {value!r}") from e
    else:
        raise SettingsError(f"{label}: expected a date-time")
    if parsed.tzinfo is None:
        raise SettingsError(f"{label}: needs a time zone (e.g. Z)")
    return parsed.astimezone(UTC)


def _build_deprecations(raw: object) -> tuple[Deprecation, ...]:
    if not isinstance(raw, list):
        raise SettingsError("deprecations: expected an array of tables")
    out = []
    for i, entry in enumerate(raw):
        section = f"deprecations[{i}]"
        if not isinstance(entry, Mapping):
            raise SettingsError(f"{section}: expected a table")
        fields = {f.name for f in dataclasses.fields(Deprecation)}
        for key in entry:
            if key not in fields:
                raise SettingsError(f"{section}.{key}: unknown setting")
        for key in fields:
            if key not in entry:
                raise SettingsError(f"{section}.{key}: missing")
        method = _coerce(f"{section}.method", str, entry["method"]).upper()
        if method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}:
            raise SettingsError(f"{section}.method: not an HTTP method: {method!r}")
        path = _coerce(f"{section}.path", str, entry["path"])
        if not path.startswith("/"):
            raise SettingsError(f"{section}.path: must start with /")
        dep = _parse_date(f"{section}.deprecation", entry["deprecation"])
        sunset = _parse_date(f"{section}.sunset", entry["sunset"])
        if sunset < dep:
            raise SettingsError(f"{section}.sunset: earlier than its deprecation date")
        successor = _coerce(f"{section}.successor", str, entry["successor"])
        link = _coerce(f"{section}.link", str, entry["link"])
        for key, value in (("successor", successor), ("link", link)):
            if any(c in value for c in '<>"\r\n,;'):
                raise SettingsError(f"{section}.{key}: not usable in a Link header")
        out.append(Deprecation(method, path, successor, dep, sunset, link))
    return tuple(out)


def scrypt_memory(n: int, r: int, p: int) -> int:
    """Bytes that one scrypt computation with these parameters needs (OpenSSL's reckoning)."""
    return 128 * r * (n + p + 2)


def validate(s: Settings) -> None:
    """Check values the types cannot; SettingsError names the first bad key."""

    def check(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise SettingsError(f"{key}: {why}")

    check(1 <= s.server.port <= 65535, "server.port", "must be 1..65535")
    check(1 <= s.server.workers <= 256, "server.workers", "must be 1..256")
    check(s.server.shutdown_grace >= 0, "server.shutdown_grace", "must not be negative")
    check(s.server.client_max_size >= 1024, "server.client_max_size", "must be at least 1024")
    check(
        s.server.log_level in {"debug", "info", "warning", "error"},
        "server.log_level",
        "must be debug, info, warning or error",
    )
    for key in ("keepalive_timeout", "body_timeout"):
        check(
            0 < getattr(s.server, key) <= 3600, f"server.{key}", "must be more than 0, at most 3600"
        )
    scheme = s.redis.url.split("://", 1)[0] if "://" in s.redis.url else ""
    check(
        scheme in {"memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "unix"},
        "redis.url",
        "scheme must be memory, redis, rediss, redis+sentinel, redis+cluster or unix",
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
    for name in ("mint", "generate_token", "generate_token_app", "failed_login", "failed_login_ip"):
        check(name in s.rate_limits, f"rate_limits.{name}", "missing policy")


__all__ = [
    "AdminSettings",
    "AuthCheckSettings",
    "BasicAuthSettings",
    "CacheSettings",
    "Deprecation",
    "F5Settings",
    "KeysSettings",
    "OnezoneSettings",
    "RateLimitPolicy",
    "RedisSettings",
    "ScryptSettings",
    "Secret",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "load",
]
