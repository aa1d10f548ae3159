"""create_app(settings) -> web.Application: the only place things are wired together."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning

from service.api import docs, ops
from service.appkeys import (
    APPLICATIONS,
    AUTHORITY,
    CLOCK,
    CREDENTIAL_CACHE,
    LOGINS,
    NAMED_TOKENS,
    NAMESPACES,
    PASSWORD_CHECKS,
    SETTINGS,
    SHUTTING_DOWN,
    STORE,
    TEMPORARY_TOKENS,
    TRUSTED_PROXIES,
    USERS,
)
from service.authority import Authority
from service.clock import Clock, SystemClock
from service.errors import AlreadyExists, StoreError
from service.metrics import flush_periodically
from service.settings import Settings, SettingsError
from service.store import Store, passwords
from service.tokens.keys import KeyRing
from service.web import serving
from service.web.auth import CredentialCache, PasswordChecks
from service.web.forwarded import TrustedProxies
from service.web.middlewares import DeprecationTable, Edge

log = logging.getLogger(__name__)

# aiohttp-apispec keeps its state under plain string app and request keys, and the
# edge's request validation (service.web.validation) stores data under the same keys.
warnings.filterwarnings("ignore", category=NotAppKeyWarning, module="aiohttp_apispec")
warnings.filterwarnings("ignore", category=NotAppKeyWarning, module="service.web.validation")

ADMIN_USER = "admin"


def load_keyring(settings: Settings) -> KeyRing:
    """The signing keys from `keys.json` or `keys.file`; a development key when neither is set."""
    raw: str | None = None
    source = ""
    if settings.keys.json:
        raw, source = str(settings.keys.json), "keys.json"
    elif settings.keys.file:
        source = "keys.file"
        try:
            raw = Path(settings.keys.file).read_text(encoding="utf-8")
        except OSError as e:
            raise SettingsError(f"keys.file: cannot read {settings.keys.file}: {e.strerror}") from e
    if raw is None:
        log.warning(
            "no signing keys configured (keys.file / TOKEN_SERVICE_KEYS_FILE): using a generated "
            "development key; tokens will not survive a restart"
        )
        return KeyRing.generate_development()
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object with a 'keys' list")
        return KeyRing.from_mapping(data)
    except ValueError as e:
        raise SettingsError(f"{source}: {e}") from e


async def bootstrap_admin(store: Store, settings: Settings) -> None:
    """Create the `admin` user at first start, when the store has no users."""
    if await store.users.count() > 0:
        return
    password = str(settings.admin.password)
    generated = not password
    if generated:
        password = secrets.token_urlsafe(18)
    try:
        await store.users.create(ADMIN_USER, password, admin=True)
    except AlreadyExists:
        return
    if generated:
        # Printed once, on purpose: it is the only way to learn it.
        log.warning("created bootstrap user 'admin' with generated password: %s", password)
    else:
        log.info("created bootstrap user 'admin' (password from TOKEN_SERVICE_ADMIN_PASSWORD)")


async def _retry_bootstrap(store: Store, settings: Settings) -> None:
    """Keep trying to create the bootstrap admin until the store answers."""
    delay = 0.5
    while True:
        await asyncio.sleep(delay)
        try:
            await bootstrap_admin(store, settings)
            return
        except StoreError:
            delay = min(delay * 2, 10.0)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    keyring: KeyRing | None = None,
    store: Store | None = None,
) -> web.Application:
    """Build the service from its settings; tests inject a clock, keys or a store."""
    clock = clock or SystemClock()
    keyring = keyring or load_keyring(settings)
    if store is None:
        store = Store(
            settings.redis,
            clock=clock,
            cache_size=settings.cache.size,
            cache_max_staleness=settings.cache.max_staleness,
        )
    passwords.configure(settings.scrypt)
    serving.hide_server_software()
    serving.hide_parser_errors()
    trusted = TrustedProxies(settings.auth_check.trusted_proxies)
    shutting_down = [False]
    edge = Edge(
        DeprecationTable(settings.deprecations),
        TrustedProxies(settings.server.trusted_proxies),
        trusted,
        shutting_down,
    )
    app = web.Application(
        client_max_size=settings.server.client_max_size,
        handler_args=serving.handler_args(settings.server),
        middlewares=[edge.middleware],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[STORE] = store
    app[USERS] = store.users
    app[LOGINS] = store.logins
    app[NAMED_TOKENS] = store.named
    app[TEMPORARY_TOKENS] = store.temporary
    app[NAMESPACES] = store.namespaces
    app[APPLICATIONS] = store.apps
    app[AUTHORITY] = Authority(settings, keyring, store, clock)
    app[CREDENTIAL_CACHE] = CredentialCache()
    app[PASSWORD_CHECKS] = PasswordChecks(
        settings.basic_auth.max_password_checks, settings.basic_auth.password_check_queue
    )
    app[TRUSTED_PROXIES] = trusted
    app[SHUTTING_DOWN] = shutting_down

    async def store_ctx(app: web.Application) -> AsyncIterator[None]:
        s = app[STORE]
        if s.embedded:
            log.warning(
                "using the embedded in-memory store (redis.url = memory://): every token, user "
                "and counter dies with this process"
            )
        await s.start()
        try:
            await bootstrap_admin(s, settings)
            retry = None
        except StoreError as e:
            log.warning("could not check for the bootstrap admin (%s); retrying", e.reason)
            retry = asyncio.create_task(_retry_bootstrap(s, settings))
        metrics_flush = asyncio.create_task(flush_periodically())
        yield
        metrics_flush.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await metrics_flush
        if retry is not None:
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry
        await s.close()

    async def mark_shutdown(app: web.Application) -> None:
        app[SHUTTING_DOWN][0] = True

    app.cleanup_ctx.append(store_ctx)
    app.on_shutdown.append(mark_shutdown)

    ops.setup_routes(app)
    from service.api import authz, f5xc, onezone

    onezone.setup_routes(app)
    f5xc.setup_routes(app)
    authz.setup_routes(app)

    docs.setup(app)
    return app
