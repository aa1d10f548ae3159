"""Loading: config/default.toml < a config file < TOKEN_SERVICE_* environment, coerced by type.

Every key of default.toml is also the environment variable
TOKEN_SERVICE_<SECTION>_<KEY>; a Secret-typed key may instead be read from the
file named by that variable with a `_FILE` suffix. An unknown TOKEN_SERVICE_*
variable is an error, as is an unknown key in a file. A value from the
environment is named in errors by its variable and its key.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from service.settings.checks import validate
from service.settings.records import (
    RATE_LIMIT_POLICIES,
    SECTIONS,
    Deprecation,
    RateLimitPolicy,
    RateLimits,
    Secret,
    Settings,
    SettingsError,
)

ENV_PREFIX = "TOKEN_SERVICE_"
CONFIG_ENV = "TOKEN_SERVICE_CONFIG"
# Dotted keys that may be read from a file (`<variable>_FILE`): the Secret-typed ones.
SECRET_KEYS = frozenset(
    f"{section}.{key}"
    for section, cls in SECTIONS.items()
    for key, tp in typing.get_type_hints(cls).items()
    if tp is Secret
)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})


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
                _merge(data, tomllib.load(fh))
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
    sections = {
        name: _build_section(name, cls, data.get(name, {})) for name, cls in SECTIONS.items()
    }
    settings = Settings(
        **sections,
        rate_limits=_build_rate_limits(data.get("rate_limits", {})),
        deprecations=_build_deprecations(data.get("deprecations", [])),
    )
    validate(settings)
    return settings


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def env_name(*parts: str) -> str:
    """The environment variable of a dotted key's parts: TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT."""
    return ENV_PREFIX + "_".join(p.upper().replace(".", "_").replace("-", "_") for p in parts)


def _environment_names() -> dict[str, tuple[str, ...]]:
    """Every setting's variable, with the path of its key."""
    names: dict[str, tuple[str, ...]] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            names[env_name(section, f.name)] = (section, f.name)
    for policy in RATE_LIMIT_POLICIES:
        for key in ("limit", "period"):
            names[env_name("rate_limits", policy, key)] = ("rate_limits", policy, key)
    return names


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> None:
    used: set[str] = set()
    for var, path in _environment_names().items():
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
    """How an error names a key: `server.port`, or `TOKEN_SERVICE_SERVER_PORT (server.port)`."""
    if isinstance(value, _EnvValue):
        return f"{value.var} ({section}.{key})"
    return f"{section}.{key}"


def _coerce(label: str, tp: Any, value: object) -> Any:
    """`value` as type `tp` (str, Secret, int, float or tuple[str, ...]), or SettingsError."""
    if tp is Secret:
        if not isinstance(value, str):
            raise SettingsError(f"{label}: expected a string")
        return Secret(value)
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(f"{label}: expected a string, got {type(value).__name__}")
        return str(value)
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
    if typing.get_origin(tp) is tuple:
        (item_tp, _) = typing.get_args(tp)
        if isinstance(value, str):
            # From the environment: comma-separated.
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise SettingsError(f"{label}: expected a list")
        return tuple(_coerce(label, item_tp, v) for v in value)
    raise SettingsError(f"{label}: unsupported type")  # pragma: no cover


def _build_section(name: str, cls: type[Any], raw: object) -> Any:
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{name}: expected a table")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in hints:
            raise SettingsError(f"{name}.{key}: unknown setting")
        kwargs[key] = _coerce(_label(name, key, value), hints[key], value)
    return cls(**kwargs)


def _build_rate_limits(raw: object) -> RateLimits:
    if not isinstance(raw, Mapping):
        raise SettingsError("rate_limits: expected a table")
    for name in raw:
        if name not in RATE_LIMIT_POLICIES:
            raise SettingsError(f"rate_limits.{name}: unknown policy")
    policies = {}
    for name in RATE_LIMIT_POLICIES:
        section = f"rate_limits.{name}"
        values = raw.get(name)
        if values is None:
            raise SettingsError(f"{section}: missing policy")
        if not isinstance(values, Mapping):
            raise SettingsError(f"{section}: expected a table")
        for key in values:
            if key not in {"limit", "period"}:
                raise SettingsError(f"{section}.{key}: unknown setting")
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
    return RateLimits(**policies)


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
    fields = {f.name for f in dataclasses.fields(Deprecation)}
    out = []
    for i, entry in enumerate(raw):
        section = f"deprecations[{i}]"
        if not isinstance(entry, Mapping):
            raise SettingsError(f"{section}: expected a table")
        for key in entry:
            if key not in fields:
                raise SettingsError(f"{section}.{key}: unknown setting")
        for key in fields:
            if key not in entry:
                raise SettingsError(f"{section}.{key}: missing")
        method = _coerce(f"{section}.method", str, entry["method"]).upper()
        if method not in HTTP_METHODS:
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
