"""Describing a token without verifying it (Onezone's ``examine`` shape)."""

from __future__ import annotations

from service.tokens.caveats import parse_text, to_json
from service.tokens.errors import CaveatUnknown, MalformedToken
from service.tokens.identifiers import F5Identifier, OnezoneIdentifier, parse_identifier
from service.tokens.macaroon import Macaroon

__all__ = ["examine"]


def _caveats(m: Macaroon) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for c in m.caveats:
        text = c.cid.decode("utf-8", "backslashreplace")
        if c.vid is not None:
            out.append({"type": "thirdParty", "caveat": text, "location": c.location})
            continue
        try:
            out.append(to_json(parse_text(text)))
        except CaveatUnknown:
            out.append({"type": "unknown", "caveat": text})
    return out


def examine(m: Macaroon) -> dict[str, object]:
    """Return the token's domain, id, persistence, subject, type and caveats (unverified)."""
    result: dict[str, object] = {"onezoneDomain": m.location}
    try:
        ident: OnezoneIdentifier | F5Identifier | None = parse_identifier(m.identifier)
    except MalformedToken:
        ident = None
    if isinstance(ident, OnezoneIdentifier):
        result["id"] = ident.token_id
        result["persistence"] = ident.persistence
        if ident.generation is not None:
            result["generation"] = ident.generation
        result["subject"] = {"type": "user", "id": ident.user_id}
        result["type"] = {"accessToken": {}} if ident.kind == "access" else {"identityToken": {}}
    elif isinstance(ident, F5Identifier):
        result["id"] = ident.token_id
        result["namespace"] = ident.namespace
        result["app"] = ident.app
        result["generation"] = ident.generation
        result["subject"] = {"type": "user", "id": ident.user_id}
        result["type"] = {"accessToken": {}}
    else:
        # A legacy (version 1) Onezone token: the identifier is just its id.
        result["id"] = m.identifier.decode("utf-8", "backslashreplace")
        result["persistence"] = "named"
        result["type"] = {"accessToken": {}}
    result["caveats"] = _caveats(m)
    return result
