"""Domain errors raised below the web layer and rendered per dialect at the edge.

Token errors live in `service.tokens.errors`; these are the rest: missing or
conflicting state, authentication and authorisation, bad input, limits and
the store's health. Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


class ServiceError(Exception):
    """Base of every domain error; `reason` is short and safe to show to clients."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class NotFound(ServiceError):
    """The addressed user, token, namespace or application does not exist."""


class AlreadyExists(ServiceError):
    """Creating something whose name is taken."""


class NameOccupied(AlreadyExists):
    """A per-user unique name (e.g. of a named token) is already in use."""

    def __init__(self, key: str, reason: str = "") -> None:
        super().__init__(reason)
        self.key = key


class Conflict(ServiceError):
    """The request conflicts with the current state (e.g. a disabled application)."""


class Unauthorized(ServiceError):
    """No credentials, or credentials that do not authenticate."""


class BadCredentials(Unauthorized):
    """HTTP Basic credentials that do not match a user."""


class Forbidden(ServiceError):
    """Authenticated, but not allowed to do this."""


class BadValue(ServiceError):
    """A request value has the wrong type or form; `key` names it, `kind` says what was expected."""

    def __init__(self, key: str, kind: str = "string", reason: str = "", **details: object) -> None:
        super().__init__(reason or f"bad value of {key}")
        self.key = key
        self.kind = kind
        self.details = details


class MissingValue(ServiceError):
    """A required request value is absent."""

    def __init__(self, key: str) -> None:
        super().__init__(f"missing required value {key}")
        self.key = key


class MissingAtLeastOneValue(MissingValue):
    """None of several optional values is present, and at least one is needed."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        super().__init__(keys[0])
        self.keys = keys


class MalformedRequest(ServiceError):
    """The request cannot be parsed at all (e.g. a body that is not JSON)."""


class TimeCaveatRequired(ServiceError):
    """A token that must expire was asked for without a short enough time caveat."""

    def __init__(self, max_ttl: int) -> None:
        super().__init__(f"a time caveat of at most {max_ttl} s is required")
        self.max_ttl = max_ttl


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The outcome of one rate-limit check, in whole seconds where headers need them."""

    policy: str
    limit: int
    period: float
    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float


class RateLimited(ServiceError):
    """A rate limit refused the request; `result` carries what the headers need."""

    def __init__(self, result: RateLimitResult, reason: str = "too many requests") -> None:
        super().__init__(reason)
        self.result = result


class StoreError(ServiceError):
    """The store failed; never a client's fault."""


class StoreUnavailable(StoreError):
    """Redis cannot be reached (refused, reset, not ready)."""


class StoreTimeout(StoreError):
    """Redis did not answer in time."""


class TokenRejected(ServiceError):
    """A well-formed, well-signed token that the state refuses (no record, owner gone)."""


class TokenRevoked(TokenRejected):
    """The token's record is revoked, or its generation or application moved on."""


class WrongTokenType(TokenRejected):
    """An access token was expected and an identity token came, or the reverse."""

    def __init__(self, expected: str, received: str) -> None:
        super().__init__(f"expected an {expected} token")
        self.expected = expected
        self.received = received


class NotAnInviteToken(TokenRejected):
    """An invite token was expected; this service issues none (Onezone's notAnInviteToken)."""

    def __init__(self, expected: str, received: str) -> None:
        super().__init__("not an invite token")
        self.expected = expected
        self.received = received


class AuthenticationFailed(Unauthorized):
    """Credentials were presented and refused; `cause` says why (a token or store error)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__("authentication failed")
        self.cause = cause
