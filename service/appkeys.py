"""Typed application keys, declared in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from service.settings import Settings

if TYPE_CHECKING:
    from service.authority import Authority
    from service.clock import Clock
    from service.store import Store
    from service.store.applications import Applications
    from service.store.logins import Logins
    from service.store.named import NamedTokens
    from service.store.namespaces import Namespaces
    from service.store.temporary import TemporaryTokens
    from service.store.users import Users
    from service.web.auth import CredentialCache, PasswordChecks, Principal
    from service.web.forwarded import TrustedProxies

SETTINGS = web.AppKey("settings", Settings)
AUTHORITY: web.AppKey[Authority] = web.AppKey("authority")
STORE: web.AppKey[Store] = web.AppKey("store")
# The store's repositories, for handlers that need one concern, not the whole store.
USERS: web.AppKey[Users] = web.AppKey("users")
LOGINS: web.AppKey[Logins] = web.AppKey("logins")
NAMED_TOKENS: web.AppKey[NamedTokens] = web.AppKey("named_tokens")
TEMPORARY_TOKENS: web.AppKey[TemporaryTokens] = web.AppKey("temporary_tokens")
NAMESPACES: web.AppKey[Namespaces] = web.AppKey("namespaces")
APPLICATIONS: web.AppKey[Applications] = web.AppKey("applications")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
CREDENTIAL_CACHE: web.AppKey[CredentialCache] = web.AppKey("credential_cache")
PASSWORD_CHECKS: web.AppKey[PasswordChecks] = web.AppKey("password_checks")
TRUSTED_PROXIES: web.AppKey[TrustedProxies] = web.AppKey("trusted_proxies")
SHUTTING_DOWN: web.AppKey[list[bool]] = web.AppKey("shutting_down")


@dataclass(slots=True)
class RequestState:
    """What the edge middleware and the authentication learn about one request.

    One object set once per request: looking up a missing key of an aiohttp
    request raises and catches a KeyError, which costs more than this.
    """

    request_id: str
    # The direct peer is a trusted proxy whose forwarding headers are believed
    # (server.trusted_proxies on the API routes, auth_check's on /auth/check).
    trusted_proxy: bool = False
    principal: Principal | None = None
    subject: str | None = None
    # The user an admin acts for (their tokens), when not themselves.
    on_behalf_of: str | None = None


STATE = web.RequestKey("state", RequestState)
