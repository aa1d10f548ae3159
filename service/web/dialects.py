"""How each dialect renders a domain error: Onezone's error object, F5's JSON string.

One table per dialect maps an exception class (the most specific match wins)
to a status code and the dialect's words for it. Descriptions follow
Onedata's ctool so that clients matching on them keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from service import errors as e
from service.paths import ONEZONE_PREFIX
from service.tokens import caveats
from service.tokens import errors as te

Dialect = Literal["onezone", "f5", "plain"]
"""How a route speaks: Onezone's error objects, F5's JSON strings, or Onezone's with 401s."""

F5_PREFIXES = ("/api/config/", "/api/web/")
"""Every route of the F5 Distributed Cloud dialect lives under one of these prefixes."""


def dialect_of_path(path: str) -> Dialect:
    """The dialect of the routes under `path`'s prefix (for a route pattern, or an unmatched path)."""
    if path.startswith(ONEZONE_PREFIX):
        return "onezone"
    if path.startswith(F5_PREFIXES):
        return "f5"
    return "plain"


Details = Callable[[Any], dict[str, Any] | None]
Describe = Callable[[Any], str]


def _none(_: Any) -> None:
    return None


def _key(err: Any) -> dict[str, Any]:
    return {"key": err.key}


def _caveat_json(text: str) -> Any:
    try:
        return caveats.to_json(caveats.parse_text(text))
    except te.TokenError:
        return text


def _type_json(kind: str) -> dict[str, Any]:
    return {"identityToken": {}} if kind == "identity" else {"accessToken": {}}


def _auth_error(err: Any) -> dict[str, Any]:
    _, body = onezone_error(err.cause)
    return {"authError": body["error"]}


ONEZONE: dict[type[BaseException], tuple[int, str, Details, Describe]] = {
    e.MalformedRequest: (
        400,
        "badMessage",
        _none,
        lambda _: "This message could not be understood by the server.",
    ),
    e.MissingValue: (
        400,
        "missingRequiredValue",
        _key,
        lambda err: f"Missing required value: {err.key}.",
    ),
    e.MissingAtLeastOneValue: (
        400,
        "missingAtLeastOneValue",
        lambda err: {"keys": list(err.keys)},
        lambda err: f"Missing data, you must provide at least one of: {', '.join(err.keys)}.",
    ),
    e.NameOccupied: (
        400,
        "badValueIdentifierOccupied",
        _key,
        lambda err: f'Bad value: provided identifier ("{err.key}") is already occupied.',
    ),
    e.TimeCaveatRequired: (
        400,
        "tokenTimeCaveatRequired",
        lambda err: {"maxTtl": err.max_ttl},
        lambda err: f"You must specify a time caveat with maximum TTL of {err.max_ttl} seconds.",
    ),
    e.BadCredentials: (
        401,
        "badBasicCredentials",
        _none,
        lambda _: "Invalid username or password.",
    ),
    e.AuthenticationFailed: (
        401,
        "unauthorized",
        _auth_error,
        lambda _: "Provided authentication is not valid (see details).",
    ),
    e.Unauthorized: (
        401,
        "unauthorized",
        _none,
        lambda _: "You must authenticate yourself to perform this operation.",
    ),
    e.Forbidden: (
        403,
        "forbidden",
        _none,
        lambda _: "You are not authorized to perform this operation.",
    ),
    e.NotFound: (404, "notFound", _none, lambda _: "The resource could not be found."),
    e.AlreadyExists: (409, "alreadyExists", _none, lambda _: "The resource already exists."),
    e.Conflict: (409, "alreadyExists", _none, lambda _: "The resource already exists."),
    e.RateLimited: (
        429,
        "tooManyRequests",
        lambda err: {"policy": err.result.policy, "retryAfter": retry_after_seconds(err.result)},
        lambda _: "Too many requests - please try again later.",
    ),
    e.StoreUnavailable: (
        503,
        "serviceUnavailable",
        _none,
        lambda _: "Service required for this operation is offline.",
    ),
    e.StoreTimeout: (503, "timeout", _none, lambda _: "Operation timed out."),
    e.TokenRevoked: (400, "tokenRevoked", _none, lambda _: "Provided token has been revoked."),
    e.WrongTokenType: (
        400,
        "notAnAccessToken",
        lambda err: {"received": _type_json(err.received)},
        lambda err: f"Expected an access token, but received a(n) {err.received} token.",
    ),
    e.NotAnInviteToken: (
        400,
        "notAnInviteToken",
        lambda err: {"expectedInviteType": err.expected, "received": _type_json(err.received)},
        lambda err: (
            f"Expected an invitation token of type '{err.expected}', "
            f"but received a(n) {err.received} token."
        ),
    ),
    e.TokenRejected: (400, "tokenInvalid", _none, lambda _: "Provided token is not valid."),
    te.TokenTooLarge: (
        400,
        "tokenTooLarge",
        lambda err: {"limit": err.limit},
        lambda err: f"Provided token exceeds the allowed size ({err.limit} characters).",
    ),
    te.MalformedToken: (
        400,
        "badToken",
        _none,
        lambda _: "Provided token could not be understood by the server.",
    ),
    te.CaveatUnknown: (
        400,
        "tokenCaveatUnknown",
        lambda err: {"caveat": err.caveat},
        lambda err: f"Unknown caveat - '{err.caveat}'.",
    ),
    te.ThirdPartyCaveat: (
        400,
        "tokenCaveatUnknown",
        lambda err: {"caveat": err.caveat},
        lambda err: f"Third-party caveats are not supported - '{err.caveat}'.",
    ),
    te.CaveatUnverified: (
        400,
        "tokenCaveatUnverified",
        lambda err: {"caveat": _caveat_json(err.caveat)},
        lambda err: f"Provided token is not valid - unverified caveat: {err.caveat}.",
    ),
    te.MalformedCaveat: (
        400,
        "badValueCaveat",
        lambda err: {"caveat": getattr(err, "caveat", None) or err.reason},
        lambda err: f"Provided caveat is invalid: {err.reason}.",
    ),
    te.TokenError: (400, "tokenInvalid", _none, lambda _: "Provided token is not valid."),
}


def retry_after_seconds(result: e.RateLimitResult) -> int:
    """Retry-After in whole seconds, never 0 for a refusal."""
    return max(1, -int(-result.retry_after // 1))


def onezone_error(err: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and body `{"error": {id, details?, description}}` for a domain error."""
    if isinstance(err, e.WrongTokenType) and err.expected == "identity":
        return 400, {
            "error": {
                "id": "notAnIdentityToken",
                "details": {"received": _type_json(err.received)},
                "description": "Expected an identity token, but received a(n) access token.",
            }
        }
    if isinstance(err, e.BadValue):
        return 400, {"error": bad_value_body(err)}
    for cls in type(err).__mro__:
        entry = ONEZONE.get(cls)
        if entry is not None:
            status, ident, details, describe = entry
            body: dict[str, Any] = {"id": ident}
            d = details(err)
            if d is not None:
                body["details"] = d
            body["description"] = describe(err)
            return status, {"error": body}
    return 500, {
        "error": {
            "id": "internalServerError",
            "description": "The server has encountered an error while processing this request.",
        }
    }


_KIND_WORDS = {
    "string": "must be a string",
    "integer": "must be an integer",
    "boolean": "must be a boolean",
    "json": "must be a valid JSON",
    "listOfStrings": "must be a list of strings",
    "token": "is not a valid token (see details)",
    "tokenType": "is not a valid token type",
    "empty": "must not be empty",
    "notAllowed": "must be one of the allowed values",
    "iPv4Address": "is not a valid IPv4 address",
    "tooLow": "is too low",
    "tooHigh": "is too high",
}


def bad_value_body(err: e.BadValue) -> dict[str, Any]:
    """Onezone's `badValue<Kind>` error object with `details.key`."""
    ident = {"json": "badValueJSON"}.get(err.kind, "badValue" + err.kind[:1].upper() + err.kind[1:])
    if err.kind == "name":
        return {
            "id": "badValueName",
            "details": {"key": err.key},
            "description": (
                f'Bad value provided for "{err.key}": Name must be 2-128 characters long and '
                "composed only of UTF-8 letters, digits, brackets and underscores. Dashes, "
                "spaces and dots are allowed (but not at the beginning or the end)."
            ),
        }
    words = _KIND_WORDS.get(err.kind, "is invalid")
    details: dict[str, Any] = {"key": err.key, **err.details}
    return {
        "id": ident,
        "details": details,
        "description": f'Bad value: provided "{err.key}" {words}.',
    }


# F5 Distributed Cloud: the body is a JSON string; codes as the seed lists them.
F5: dict[type[BaseException], tuple[int, str]] = {
    e.MalformedRequest: (400, "malformed request"),
    e.MissingValue: (400, "malformed request"),
    e.BadValue: (400, "malformed request"),
    e.TimeCaveatRequired: (400, "malformed request"),
    te.MalformedCaveat: (400, "malformed request"),
    e.Unauthorized: (401, "not authorized"),
    e.TokenRejected: (401, "not authorized"),
    te.TokenError: (401, "not authorized"),
    e.Forbidden: (403, "no permission"),
    e.NotFound: (404, "not found"),
    e.AlreadyExists: (409, "conflicting with current value"),
    e.Conflict: (409, "conflicting with current value"),
    e.RateLimited: (429, "too frequent"),
    e.StoreUnavailable: (503, "service unavailable"),
    e.StoreTimeout: (504, "store did not answer in time"),
}


def f5_error(err: BaseException) -> tuple[int, str]:
    """Status and message string for a domain error in the F5 dialect."""
    for cls in type(err).__mro__:
        entry = F5.get(cls)
        if entry is not None:
            status, default = entry
            reason = getattr(err, "reason", "") or ""
            if status >= 500 or status == 401 or not reason:
                return status, default
            return status, reason
    return 500, "internal server error"
