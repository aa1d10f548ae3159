"""Settings: defaults < file < environment, validated with messages that name the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from service import settings as s


def test_defaults_match_the_design() -> None:
    st = s.load(environ={})
    assert st.server.host == "127.0.0.1" and st.server.port == 8080 and st.server.workers == 1
    assert st.redis.url == "memory://"
    assert st.onezone.domain == "onezone"
    assert st.rate_limits.mint == s.RateLimitPolicy("mint", 600, 60.0)
    assert st.rate_limits.failed_login_ip == s.RateLimitPolicy("failed_login_ip", 50, 300.0)
    assert len(st.deprecations) == 3


def test_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[server]\nport = 9000\nlog_level = "debug"\n[rate_limits.mint]\nlimit = 7\nperiod = 1\n'
    )
    st = s.load(cfg, environ={"TOKEN_SERVICE_SERVER_PORT": "9100"})
    assert st.server.port == 9100 and st.server.log_level == "debug"
    assert st.rate_limits.mint.limit == 7
    st = s.load(
        environ={"TOKEN_SERVICE_CONFIG": str(cfg), "TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": "3"}
    )
    assert st.server.port == 9000 and st.rate_limits.mint.limit == 3


def test_short_names_and_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    st = s.load(
        environ={
            "TOKEN_SERVICE_REDIS_URL": "redis://127.0.0.1:6380/0",
            "TOKEN_SERVICE_ADMIN_PASSWORD_FILE": str(secret),
            "TOKEN_SERVICE_KEYS_FILE": "/run/keys.json",
        }
    )
    assert st.redis.url == "redis://127.0.0.1:6380/0"
    assert st.admin.password == "hunter2"
    assert st.keys.file == "/run/keys.json"
    assert "hunter2" not in repr(st)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"TOKEN_SERVICE_SERVER_PORT": "http"}, "TOKEN_SERVICE_SERVER_PORT (server.port)"),
        ({"TOKEN_SERVICE_SERVER_PORT": "70000"}, "server.port"),
        ({"TOKEN_SERVICE_REDIS_URL": "mysql://x"}, "redis.url"),
        ({"TOKEN_SERVICE_REDIS_SOCKET_TIMEOUT": "-1"}, "redis.socket_timeout"),
        ({"TOKEN_SERVICE_SERVER_LOG_LEVEL": "loud"}, "server.log_level"),
        (
            {"TOKEN_SERVICE_AUTH_CHECK_TRUSTED_PROXIES": "10.0.0.0/8,nonsense"},
            "auth_check.trusted_proxies",
        ),
        (
            {"TOKEN_SERVICE_SERVER_TRUSTED_PROXIES": "10.0.0.0/33"},
            "server.trusted_proxies",
        ),
        ({"TOKEN_SERVICE_RATE_LIMITS_MINT_LIMIT": "0"}, "rate_limits.mint.limit"),
        (
            {"TOKEN_SERVICE_RATE_LIMITS_FAILED_LOGIN_IP_PERIOD": "soon"},
            "TOKEN_SERVICE_RATE_LIMITS_FAILED_LOGIN_IP_PERIOD (rate_limits.failed_login_ip.period)",
        ),
        ({"TOKEN_SERVICE_TYPO": "1"}, "TOKEN_SERVICE_TYPO"),
        (
            {"TOKEN_SERVICE_ADMIN_PASSWORD_FILE": "/nonexistent/file"},
            "TOKEN_SERVICE_ADMIN_PASSWORD_FILE",
        ),
        ({"TOKEN_SERVICE_CONFIG": "/nonexistent/config.toml"}, "config file"),
    ],
)
def test_bad_values_name_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(s.SettingsError) as err:
        s.load(environ=environ)
    assert named in str(err.value)


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        ('sunset = "2018-01-01T00:00:00Z"', "deprecations[0].sunset"),
        ('sunset = "soon"', "deprecations[0].sunset"),
        ('deprecation = "2019-07-01T00:00:00"', "deprecations[0].deprecation"),
        ('method = "FETCH"', "deprecations[0].method"),
    ],
)
def test_deprecation_table_is_checked_at_load(tmp_path: Path, snippet: str, named: str) -> None:
    entry = {
        "method": '"POST"',
        "path": '"/x"',
        "successor": '"/y"',
        "deprecation": '"2019-07-01T00:00:00Z"',
        "sunset": '"2027-06-30T23:59:59Z"',
        "link": '"https://example.org/doc"',
    }
    key, _, value = snippet.partition(" = ")
    entry[key] = value
    cfg = tmp_path / "c.toml"
    cfg.write_text("[[deprecations]]\n" + "\n".join(f"{k} = {v}" for k, v in entry.items()) + "\n")
    data = tomllib.loads(cfg.read_text())
    base = tomllib.loads(s.default_config_text())
    base["deprecations"] = data["deprecations"]
    with pytest.raises(s.SettingsError) as err:
        s.from_mapping(base)
    assert named in str(err.value)


def test_proxies_and_cache_defaults() -> None:
    st = s.load(environ={})
    # The API routes trust no proxy; /auth/check trusts its pod's loopback.
    assert st.server.trusted_proxies == ()
    assert st.auth_check.trusted_proxies == ("127.0.0.0/8", "::1/128")
    # A sidecar does not ask Redis on every request out of the box.
    assert st.cache.size == 10_000
    assert s.Settings().cache.size == 10_000 and s.Settings().server.trusted_proxies == ()
    st = s.load(environ={"TOKEN_SERVICE_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"})
    assert st.server.trusted_proxies == ("10.0.0.0/8", "fd00::/8")


def test_the_records_defaults_are_default_toml() -> None:
    """`Settings()` without loading is what default.toml says (deprecations aside)."""
    assert dataclasses.replace(s.load(environ={}), deprecations=()) == s.Settings()


def test_rate_limits_are_one_typed_field_per_policy(tmp_path: Path) -> None:
    st = s.load(environ={"TOKEN_SERVICE_RATE_LIMITS_GENERATE_TOKEN_APP_PERIOD": "30"})
    assert st.rate_limits.generate_token_app == s.RateLimitPolicy("generate_token_app", 3000, 30.0)
    assert s.RATE_LIMIT_POLICIES == (
        "mint",
        "generate_token",
        "generate_token_app",
        "failed_login",
        "failed_login_ip",
    )
    # A policy nothing reads is a typo, refused like an unknown key.
    cfg = tmp_path / "c.toml"
    cfg.write_text("[rate_limits.mnt]\nlimit = 7\nperiod = 1\n")
    with pytest.raises(s.SettingsError, match=r"^rate_limits\.mnt: unknown policy$"):
        s.load(cfg, environ={})
    base = tomllib.loads(s.default_config_text())
    del base["rate_limits"]["failed_login"]
    with pytest.raises(s.SettingsError, match=r"^rate_limits\.failed_login: missing policy$"):
        s.from_mapping(base)


def test_redis_schemes_are_one_table() -> None:
    with pytest.raises(s.SettingsError) as err:
        s.load(environ={"TOKEN_SERVICE_REDIS_URL": "mysql://x"})
    assert str(err.value) == (
        "redis.url: scheme must be memory, redis, rediss, redis+sentinel, redis+cluster or unix"
    )
    for scheme in s.REDIS_SCHEMES:
        url = f"{scheme}://127.0.0.1:6379/0"
        redis = s.load(environ={"TOKEN_SERVICE_REDIS_URL": url}).redis
        assert redis.scheme == scheme and redis.embedded == (scheme == "memory")
    assert s.RedisSettings(url="localhost:6379").scheme == ""


def test_secret_keys_are_the_secret_typed_ones() -> None:
    assert s.SECRET_KEYS == {"admin.password", "keys.json"}
    with pytest.raises(s.SettingsError, match="TOKEN_SERVICE_SERVER_HOST_FILE: unknown setting"):
        s.load(environ={"TOKEN_SERVICE_SERVER_HOST_FILE": "/etc/hostname"})
