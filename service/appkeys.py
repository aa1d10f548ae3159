"""Typed application keys, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from service.settings import Settings
from service.web.state import RequestState

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
    from service.web.credentials import CredentialCache, PasswordChecks
    from service.web.forwarded import TrustedProxies

__all__ = [
    "APPLICATIONS",
    "AUTHORITY",
    "CLOCK",
    "CREDENTIAL_CACHE",
    "LOGINS",
    "NAMED_TOKENS",
    "NAMESPACES",
    "PASSWORD_CHECKS",
    "SETTINGS",
    "SHUTTING_DOWN",
    "STATE",
    "STORE",
    "TEMPORARY_TOKENS",
    "TRUSTED_PROXIES",
    "USERS",
    "RequestState",
]

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
STATE = web.RequestKey("state", RequestState)
