"""Errors raised by the token core.

Every error carries a short ``reason`` that is safe to show to a client: it
never contains key material, token signatures or other secrets.
"""

from __future__ import annotations


class TokenError(Exception):
    """Base of every error about a token, its caveats or its keys."""

    default_reason = "invalid token"

    def __init__(self, reason: str | None = None) -> None:
        self.reason: str = reason if reason else type(self).default_reason
        super().__init__(self.reason)

    def __str__(self) -> str:
        return self.reason


class MalformedToken(TokenError):
    """The token text cannot be parsed."""

    default_reason = "malformed token"


class TokenTooLarge(TokenError):
    """The token is over the size limit; detected before any decoding."""

    default_reason = "token too large"

    def __init__(self, limit: int, reason: str | None = None) -> None:
        self.limit: int = limit
        super().__init__(reason if reason else f"token larger than {limit} characters")


class InvalidSignature(TokenError):
    """The signature does not match the key."""

    default_reason = "invalid token signature"


class UnknownKey(InvalidSignature):
    """The token names a signing key that is not in the ring, or is retired."""

    default_reason = "token signed with an unknown or retired key"


class CaveatError(TokenError):
    """A caveat of the token stops it from being accepted."""

    default_reason = "caveat not satisfied"

    def __init__(self, caveat: str, reason: str | None = None) -> None:
        self.caveat: str = caveat
        super().__init__(reason)


class CaveatUnverified(CaveatError):
    """A known caveat is not satisfied in the request's context."""

    default_reason = "caveat not satisfied"


class TokenExpired(CaveatUnverified):
    """A time caveat has passed."""

    default_reason = "token expired"


class CaveatUnknown(CaveatError):
    """A caveat is not understood, so the token is refused (fail closed)."""

    default_reason = "unknown caveat"


class ThirdPartyCaveat(CaveatUnknown):
    """A third-party caveat (one with a verification id): not supported, so refused."""

    default_reason = "third-party caveats are not supported"


class MalformedCaveat(TokenError):
    """Caveat text or JSON given by a client is invalid."""

    default_reason = "malformed caveat"

    def __init__(self, reason: str | None = None, key: str | None = None) -> None:
        self.key: str | None = key
        super().__init__(reason)
