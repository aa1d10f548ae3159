"""Describing a token without verifying it (Onezone's ``examine`` shape).

Only this service's tokens are described: an identifier of another form, a
location other than the one configured for the token's kind, or a
third-party caveat is an error rather than a guess.
"""

from __future__ import annotations

from service.tokens.caveats import parse_text, to_json
from service.tokens.errors import CaveatUnknown, MalformedToken, ThirdPartyCaveat
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier, parse_identifier
from service.tokens.macaroon import Macaroon

__all__ = ["examine"]


def _caveats_json(m: Macaroon) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for c in m.caveats:
        text = c.cid.decode("utf-8", "backslashreplace")
        if c.vid is not None:
            raise ThirdPartyCaveat(text)
        try:
            out.append(to_json(parse_text(text)))
        except CaveatUnknown:
            out.append({"type": "unknown", "caveat": text})
    return out


def examine(m: Macaroon, onezone_domain: str, f5_location: str) -> dict[str, object]:
    """The token's location, id, kind, subject and caveats (unverified); MalformedToken or
    ThirdPartyCaveat for what is not one of this service's tokens."""
    ident = parse_identifier(m.identifier)
    result: dict[str, object]
    if isinstance(ident, OnezoneIdentifier):
        if m.location != onezone_domain:
            raise MalformedToken("token issued for another location")
        result = {"onezoneDomain": m.location, "id": ident.token_id}
        result["persistence"] = ident.persistence
        if ident.generation is not None:
            result["generation"] = ident.generation
        result["subject"] = {"type": "user", "id": ident.user_id}
        result["type"] = {"accessToken": {}} if ident.kind == "access" else {"identityToken": {}}
    else:
        assert isinstance(ident, F5Identifier)
        if m.location != f5_location:
            raise MalformedToken("token issued for another location")
        result = {"location": m.location, "id": ident.token_id}
        result["namespace"] = ident.namespace
        result["app"] = ident.app
        result["generation"] = ident.generation
        result["subject"] = {"type": "user", "id": ident.user_id}
        result["type"] = {"accessToken": {}}
    result["caveats"] = _caveats_json(m)
    return result
