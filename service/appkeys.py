"""Typed application keys, declared in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from service.settings import Settings

if TYPE_CHECKING:
    from service.authority import Authority
    from service.clock import Clock
    from service.store import Store
    from service.web.auth import CredentialCache, Principal
    from service.web.forwarded import TrustedProxies

SETTINGS = web.AppKey("settings", Settings)
AUTHORITY: web.AppKey[Authority] = web.AppKey("authority")
STORE: web.AppKey[Store] = web.AppKey("store")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
CREDENTIAL_CACHE: web.AppKey[CredentialCache] = web.AppKey("credential_cache")
TRUSTED_PROXIES: web.AppKey[TrustedProxies] = web.AppKey("trusted_proxies")
SHUTTING_DOWN: web.AppKey[list[bool]] = web.AppKey("shutting_down")

# Per-request values set by the middlewares and the authentication.
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
SUBJECT = web.RequestKey("subject", str)
REQUEST_ID = web.RequestKey("request_id", str)
TRUSTED_PROXY = web.RequestKey("trusted_proxy", bool)
FORWARDING_INVALID = web.RequestKey("forwarding_invalid", bool)
