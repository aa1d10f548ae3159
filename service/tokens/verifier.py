"""Checking a macaroon's signature and caveats against a request's context.

Each caveat is checked by its class's ``check`` (see the tokens/caveats package); the
table of checks is built from the caveat registry, and a Verifier may override
entries of it.

Every caveat must be understood and satisfied: an unknown caveat, a
third-party caveat, or a caveat whose context is missing fails closed. The
clock is injected through ``Context.now``; nothing here reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from service.tokens.caveats import SAFE_METHODS, AnyCaveat, TimeCaveat, caveat_types, parse_text
from service.tokens.errors import CaveatUnknown, CaveatUnverified, InvalidSignature, TokenExpired
from service.tokens.macaroon import Macaroon

__all__ = ["DEFAULT_CHECKERS", "SAFE_METHODS", "Checker", "Context", "Verified", "Verifier"]


@dataclass(slots=True)
class Context:
    """What is known about the request a token is presented with.

    Treated as a value and never changed after it is built; not frozen only
    because it is built for every request and a frozen dataclass's __init__
    sets each field through object.__setattr__, which costs more.
    """

    now: int  # unix seconds
    peer_ip: str | None = None
    service: str | None = None  # e.g. "opw-<id>" / "ozw-onezone"
    consumer: str | None = None  # e.g. "usr-<id>"
    interface: str | None = None  # rest | oneclient | graphsync
    method: str | None = None  # HTTP method of the request being authorised
    # The request target as received (path, maybe a query), not normalised:
    # http.path normalises it (see tokens/httppath.py).
    path: str | None = None
    host: str | None = None  # the request's Host (with its port, if it has one)
    api_operation: str | None = None  # create|get|update|delete; from method when None
    api_gri: str | None = None  # GRI of the resource, for api caveats
    asn: int | None = None
    country: str | None = None
    region: str | None = None
    namespace: str | None = None  # F5
    app: str | None = None  # F5
    # True: data.* caveats are left to the data service (accepted); False:
    # data.readonly needs a safe method and data.path/objectid fail closed.
    defer_data_caveats: bool = False
    # True: api caveats are left to each operation (Onezone's verify_* routes
    # accept them and the consuming service checks them per call).
    defer_api_caveats: bool = False
    # The peer's country is in the EU, which Onedata treats as a region too.
    in_eu: bool = False
    # Short name of the service the API call is made to (ozw, opw, ozp, opp);
    # when None it is taken from the prefix of ``service``.
    api_service: str | None = None
    # When set, the token's location must equal it: the signature does not
    # cover the location, so this is the only thing that pins it.
    location: str | None = None


Checker = Callable[[AnyCaveat, Context], bool]


@dataclass(frozen=True, slots=True)
class Verified:
    """The outcome of a successful verification."""

    caveats: tuple[AnyCaveat, ...]
    valid_until: int | None  # earliest time caveat, if any

    def ttl(self, now: int) -> int | None:
        """Seconds left before the earliest time caveat, or None if unlimited."""
        if self.valid_until is None:
            return None
        return max(0, self.valid_until - now)


def _default_checkers() -> dict[type, Checker]:
    return {cls: cls.check for cls in caveat_types()}


# The check of every registered caveat kind, each the class's own `check`.
DEFAULT_CHECKERS: Mapping[type, Checker] = MappingProxyType(_default_checkers())

# Verified is built for every request: fill its slots directly rather than
# through the generated __init__ of a frozen dataclass (see macaroon.py).
_new_object = object.__new__
_set_caveats = Verified.__dict__["caveats"].__set__
_set_valid_until = Verified.__dict__["valid_until"].__set__


class Verifier:
    """Verifies macaroons; ``checkers`` override or extend the default per-type checks.

    ``parse`` turns a caveat's text into its object; a long-running service
    passes a cached `parse_text` (caveat objects are immutable), since the
    same tokens come back again and again.
    """

    __slots__ = ("_checkers", "_parse")

    def __init__(
        self,
        checkers: Mapping[type, Checker] | None = None,
        parse: Callable[[str], AnyCaveat] = parse_text,
    ) -> None:
        # From the registry as it is now, so a kind registered after import counts.
        table = _default_checkers()
        if checkers:
            table.update(checkers)
        self._checkers = table
        self._parse = parse

    def verify(self, m: Macaroon, root_key: bytes, ctx: Context) -> Verified:
        """Check the location and signature, then every caveat; raise a TokenError on failure."""
        if ctx.location is not None and m.location != ctx.location:
            raise InvalidSignature("token issued for another location")
        m.verify_signature(root_key)
        return self.check_caveats(m, ctx)

    def check_caveats(self, m: Macaroon, ctx: Context) -> Verified:
        """Check every caveat (not the signature); raise a CaveatError on failure."""
        checkers = self._checkers
        parse = self._parse
        parsed: list[AnyCaveat] = []
        valid_until: int | None = None
        for c in m.caveats:
            try:
                text = c.cid.decode("utf-8")
            except UnicodeDecodeError:
                raise CaveatUnknown(
                    c.cid.decode("utf-8", "backslashreplace"), "caveat is not UTF-8 text"
                ) from None
            if c.vid is not None:
                raise CaveatUnknown(text, "third-party caveats are not supported")
            # The core keeps no cache of parses; a service may pass a cached `parse`.
            caveat = parse(text)
            checker = checkers.get(type(caveat))
            if checker is None:
                raise CaveatUnknown(text)
            try:
                ok = checker(caveat, ctx)
            except Exception:
                # A checker that cannot decide refuses the token.
                ok = False
            if isinstance(caveat, TimeCaveat):
                if not ok:
                    raise TokenExpired(text)
                if valid_until is None or caveat.valid_until < valid_until:
                    valid_until = caveat.valid_until
            elif not ok:
                raise CaveatUnverified(text)
            parsed.append(caveat)
        verified: Verified = _new_object(Verified)
        _set_caveats(verified, tuple(parsed))
        _set_valid_until(verified, valid_until)
        return verified
