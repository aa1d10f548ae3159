"""Macaroons with the libmacaroons signature chain.

The chain is the one libmacaroons, pymacaroons and go-macaroon share, so tokens
minted here verify there and the other way round:

    k   = HMAC-SHA256(key=b"macaroons-key-generator", msg=root_key)
    sig = HMAC-SHA256(k, identifier)
    sig = HMAC-SHA256(sig, caveat_id)                       first-party caveat
    sig = HMAC-SHA256(sig, HMAC(sig, vid) + HMAC(sig, cid)) third-party caveat
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from service.adapters.hmac_sha256 import new_hmac as _new_hmac
from service.tokens.errors import CaveatUnknown, InvalidSignature, MalformedToken

__all__ = [
    "SIGNATURE_SIZE",
    "Caveat",
    "FixedKeyHmac",
    "Macaroon",
    "first_party_caveat",
    "mint",
    "new_caveat",
    "new_macaroon",
]

SIGNATURE_SIZE = 32

_KEY_GENERATOR = b"macaroons-key-generator"
_compare = hmac.compare_digest

_XOR_36 = bytes(b ^ 0x36 for b in range(256))
_XOR_5C = bytes(b ^ 0x5C for b in range(256))


class FixedKeyHmac:
    """HMAC-SHA256 under one key, with the padded key blocks hashed once up front."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(key.translate(_XOR_36))
        self._outer = hashlib.sha256(key.translate(_XOR_5C))

    def __repr__(self) -> str:
        return "FixedKeyHmac(<key hidden>)"

    def digest(self, msg: bytes) -> bytes:
        """Return HMAC-SHA256(key, msg)."""
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


# A root key's signing key: HMAC-SHA256(b"macaroons-key-generator", root_key).
_signing_key: Callable[[bytes], bytes] = FixedKeyHmac(_KEY_GENERATOR).digest


@dataclass(frozen=True, slots=True)
class Caveat:
    """One caveat: first-party when it has no verification id."""

    cid: bytes
    vid: bytes | None = None
    location: str | None = None

    @property
    def first_party(self) -> bool:
        """Whether the caveat is checked by the target service itself."""
        return self.vid is None


@dataclass(frozen=True, slots=True)
class Macaroon:
    """An immutable macaroon; attenuation returns a new one."""

    location: str
    identifier: bytes
    caveats: tuple[Caveat, ...]
    # The signature is what makes the token usable, so it stays out of repr.
    signature: bytes = field(repr=False)

    def add_first_party_caveat(self, predicate: str | bytes) -> Macaroon:
        """Return a copy restricted by one more first-party caveat."""
        cid = _to_bytes(predicate)
        return new_macaroon(
            self.location,
            self.identifier,
            (*self.caveats, first_party_caveat(cid)),
            _new_hmac(self.signature, cid, "sha256").digest(),
        )

    def predicates(self) -> list[str]:
        """Return the first-party caveat ids as text."""
        out: list[str] = []
        for c in self.caveats:
            if c.vid is not None:
                continue
            try:
                out.append(c.cid.decode("utf-8"))
            except UnicodeDecodeError:
                raise CaveatUnknown(
                    c.cid.decode("utf-8", "backslashreplace"), "caveat is not UTF-8 text"
                ) from None
        return out

    def identifier_text(self) -> str:
        """Return the identifier as text; MalformedToken if it is not UTF-8."""
        try:
            return self.identifier.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedToken("token identifier is not UTF-8 text") from None

    def expected_signature(self, root_key: bytes) -> bytes:
        """Return the signature this macaroon would carry under a root key."""
        new = _new_hmac
        sig = new(_signing_key(root_key), self.identifier, "sha256").digest()
        for c in self.caveats:
            if c.vid is None:
                sig = new(sig, c.cid, "sha256").digest()
            else:
                both = new(sig, c.vid, "sha256").digest() + new(sig, c.cid, "sha256").digest()
                sig = new(sig, both, "sha256").digest()
        return sig

    def verify_signature(self, root_key: bytes) -> None:
        """Raise InvalidSignature unless the signature chain matches the root key."""
        if not _compare(self.expected_signature(root_key), self.signature):
            raise InvalidSignature()


# The generated __init__ of a frozen dataclass stores each field through
# object.__setattr__, which costs a good part of a signature step. Parsing and
# minting build a Macaroon and a Caveat per caveat for every token, so they
# fill the slots through the slot descriptors instead. Contract: these
# constructors set every field and build objects equal to the dataclass ones
# (tests/tokens/test_macaroon.py checks it).
_new_object = object.__new__
_set_cid = Caveat.__dict__["cid"].__set__
_set_vid = Caveat.__dict__["vid"].__set__
_set_cl = Caveat.__dict__["location"].__set__
_set_location = Macaroon.__dict__["location"].__set__
_set_identifier = Macaroon.__dict__["identifier"].__set__
_set_caveats = Macaroon.__dict__["caveats"].__set__
_set_signature = Macaroon.__dict__["signature"].__set__


def new_caveat(cid: bytes, vid: bytes | None, location: str | None) -> Caveat:
    """Return Caveat(cid, vid, location), built faster."""
    c: Caveat = _new_object(Caveat)
    _set_cid(c, cid)
    _set_vid(c, vid)
    _set_cl(c, location)
    return c


def first_party_caveat(cid: bytes) -> Caveat:
    """Return the first-party Caveat for cid (what Caveat(cid) returns, built faster)."""
    return new_caveat(cid, None, None)


def new_macaroon(
    location: str, identifier: bytes, caveats: tuple[Caveat, ...], signature: bytes
) -> Macaroon:
    """Return Macaroon(location, identifier, caveats, signature), built faster."""
    m: Macaroon = _new_object(Macaroon)
    _set_location(m, location)
    _set_identifier(m, identifier)
    _set_caveats(m, caveats)
    _set_signature(m, signature)
    return m


def _to_bytes(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def mint(
    root_key: bytes,
    identifier: bytes | str,
    location: str = "",
    caveats: Iterable[str | bytes] = (),
) -> Macaroon:
    """Create a macaroon signed with a root key, with first-party caveats."""
    ident = identifier if isinstance(identifier, bytes) else identifier.encode("utf-8")
    new = _new_hmac
    sig = new(_signing_key(root_key), ident, "sha256").digest()
    cavs: list[Caveat] = []
    append = cavs.append
    for predicate in caveats:
        cid = predicate if isinstance(predicate, bytes) else predicate.encode("utf-8")
        sig = new(sig, cid, "sha256").digest()
        append(first_party_caveat(cid))
    return new_macaroon(location, ident, tuple(cavs), sig)
