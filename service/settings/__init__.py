"""Typed settings: config/default.toml < a config file < TOKEN_SERVICE_* environment.

Every setting is validated at load; a bad value raises `SettingsError` naming
the key (`redis.url`, or the environment variable that carried it).

The loader is written by hand rather than on pydantic-settings: that library
would cost the service a good part of its memory and start-up budget and
still need our own sources for the `_FILE` secrets, the rejection of unknown
variables and the error messages that name the variable and the key.

`records` holds the typed records, `loader` reads and coerces them, `checks`
validates what types cannot express.
"""

from service.settings.checks import scrypt_memory, validate
from service.settings.loader import (
    CONFIG_ENV,
    ENV_PREFIX,
    SECRET_KEYS,
    default_config_text,
    env_name,
    from_mapping,
    load,
)
from service.settings.records import (
    EMBEDDED_SCHEME,
    RATE_LIMIT_POLICIES,
    REDIS_SCHEMES,
    AdminSettings,
    AuthCheckSettings,
    BasicAuthSettings,
    CacheSettings,
    Deprecation,
    F5Settings,
    KeysSettings,
    OnezoneSettings,
    RateLimitPolicy,
    RateLimits,
    RedisSettings,
    ScryptSettings,
    Secret,
    ServerSettings,
    Settings,
    SettingsError,
)

__all__ = [
    "CONFIG_ENV",
    "EMBEDDED_SCHEME",
    "ENV_PREFIX",
    "RATE_LIMIT_POLICIES",
    "REDIS_SCHEMES",
    "SECRET_KEYS",
    "AdminSettings",
    "AuthCheckSettings",
    "BasicAuthSettings",
    "CacheSettings",
    "Deprecation",
    "F5Settings",
    "KeysSettings",
    "OnezoneSettings",
    "RateLimitPolicy",
    "RateLimits",
    "RedisSettings",
    "ScryptSettings",
    "Secret",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "default_config_text",
    "env_name",
    "from_mapping",
    "load",
    "scrypt_memory",
    "validate",
]
