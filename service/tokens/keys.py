"""Signing keys and the key ring.

A token's root key is never stored: it is HMAC-SHA256(subkey, identifier),
where the subkey comes from the signing key's secret through HKDF-SHA256 with
``info = b"token-service/" + purpose``. Every token id minted here starts with
the 8-hex-digit tag of the key that signed it, so verification goes straight
to one key instead of trying them all.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, TypeAlias, TypeGuard, get_args

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.tokens.encoding import b64decode_any
from service.tokens.errors import MalformedToken, UnknownKey
from service.tokens.identifiers import TOKEN_ID_PATTERN
from service.tokens.macaroon import FixedKeyHmac

__all__ = ["KEY_ID_PATTERN", "KEY_STATES", "MIN_SECRET_BYTES", "KeyRing", "KeyState", "SigningKey"]

KeyState: TypeAlias = Literal["active", "verify", "retired"]

MIN_SECRET_BYTES = 32
TOKEN_ID_RANDOM_BYTES = 12
# Digits of a named token's id that repeat its owner's id (see new_token_id).
OWNER_HINT_DIGITS = 10
KEY_STATES: frozenset[str] = frozenset(get_args(KeyState))
"""The states a signing key can be in (see KeyState)."""
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
"""A signing key's id (kid)."""
_KID_RULE = "must be 1-64 characters of [A-Za-z0-9_.-]"
_STATE_RULE = "must be active, verify or retired"
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_PURPOSE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def _is_kid(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and KEY_ID_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True)
class SigningKey:
    """A named signing secret; the secret never shows in repr or str."""

    kid: str
    secret: bytes = field(repr=False)
    state: KeyState = "active"

    def __post_init__(self) -> None:
        if not _is_kid(self.kid):
            raise ValueError(f"kid {_KID_RULE}")
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        if self.state not in KEY_STATES:
            raise ValueError(f"state {_STATE_RULE}")

    @cached_property
    def tag(self) -> str:
        """Eight hex digits derived from the secret; the prefix of this key's token ids."""
        return hmac.digest(self.secret, b"key-tag", "sha256")[:4].hex()


def _derive_subkey(secret: bytes, purpose: str) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"token-service/" + purpose.encode("ascii"),
    )
    return hkdf.derive(secret)


class KeyRing:
    """Signing keys: exactly one active, others verify-only or retired."""

    __slots__ = ("_active", "_by_kid", "_by_tag", "_keys", "_subkeys")

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        keys = tuple(keys)
        active = [k for k in keys if k.state == "active"]
        if len(active) != 1:
            raise ValueError(f"exactly one active key is required, found {len(active)}")
        by_kid: dict[str, SigningKey] = {}
        by_tag: dict[str, SigningKey] = {}
        for k in keys:
            if k.kid in by_kid:
                raise ValueError(f"duplicate key id {k.kid!r}")
            if k.tag in by_tag:
                raise ValueError(f"keys {by_tag[k.tag].kid!r} and {k.kid!r} have the same tag")
            by_kid[k.kid] = k
            by_tag[k.tag] = k
        self._keys = keys
        self._active = active[0]
        self._by_kid = by_kid
        self._by_tag = by_tag
        # Derived per (kid, purpose) on first use, with the HMAC key blocks
        # already hashed, so a root key costs one short HMAC.
        self._subkeys: dict[tuple[str, str], FixedKeyHmac] = {}

    def __repr__(self) -> str:
        states = ", ".join(f"{k.kid}:{k.state}" for k in self._keys)
        return f"KeyRing({states})"

    @classmethod
    def generate_development(cls) -> KeyRing:
        """Return a ring with one fresh random key (tokens die with the process)."""
        return cls([SigningKey("dev", os.urandom(MIN_SECRET_BYTES), "active")])

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> KeyRing:
        """Build a ring from parsed keys-file content; ValueError names the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError("keys file must hold a JSON object")
        entries = data.get("keys")
        if not isinstance(entries, list) or not entries:
            raise ValueError("keys: must be a non-empty list")
        keys: list[SigningKey] = []
        for i, entry in enumerate(entries):
            where = f"keys[{i}]"
            if not isinstance(entry, Mapping):
                raise ValueError(f"{where}: must be an object")
            unknown = set(entry) - {"kid", "secret", "state"}
            if unknown:
                raise ValueError(f"{where}.{sorted(map(str, unknown))[0]}: unexpected field")
            kid = entry.get("kid")
            if not _is_kid(kid):
                raise ValueError(f"{where}.kid: {_KID_RULE}")
            state = entry.get("state", "active")
            if state not in KEY_STATES:
                raise ValueError(f"{where}.state: {_STATE_RULE}")
            encoded = entry.get("secret")
            if not isinstance(encoded, str):
                raise ValueError(f"{where}.secret: must be a base64 string")
            try:
                secret = b64decode_any(encoded)
            except MalformedToken:
                raise ValueError(f"{where}.secret: not valid base64") from None
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"{where}.secret: must decode to at least {MIN_SECRET_BYTES} bytes"
                )
            keys.append(SigningKey(kid, secret, state))
        try:
            return cls(keys)
        except ValueError as e:
            raise ValueError(f"keys: {e}") from None

    @staticmethod
    def generate_entry(kid: str | None = None, state: KeyState = "active") -> dict[str, str]:
        """Return a new keys-file entry with a random secret."""
        if kid is None:
            kid = "k-" + secrets.token_hex(4)
        if not _is_kid(kid):
            raise ValueError(f"kid {_KID_RULE}")
        if state not in KEY_STATES:
            raise ValueError(f"state {_STATE_RULE}")
        secret = base64.b64encode(secrets.token_bytes(MIN_SECRET_BYTES)).decode("ascii")
        return {"kid": kid, "secret": secret, "state": state}

    @property
    def active(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self._active

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key of the ring, in the order given."""
        return self._keys

    def new_token_id(self, rand: Callable[[int], bytes] = os.urandom, owner: str = "") -> str:
        """Return a fresh token id: the active key's tag, then 24 hex digits.

        With an `owner` (a user id), the first OWNER_HINT_DIGITS of those are
        the owner id's first digits, so that the owner of a named token can be
        found from its id alone; the rest is random (56 bits, unique per user
        far beyond any number of tokens one user mints).
        """
        hint = owner[:OWNER_HINT_DIGITS]
        if len(hint) != OWNER_HINT_DIGITS or _LOWER_HEX.fullmatch(hint) is None:
            hint = ""  # an owner id that is not ours: no hint, all random
        size = TOKEN_ID_RANDOM_BYTES - len(hint) // 2
        random_part = rand(size)
        if len(random_part) != size:
            raise ValueError("random source returned the wrong number of bytes")
        return self._active.tag + hint + random_part.hex()

    def key_for_token_id(self, token_id: str) -> SigningKey:
        """Return the key that signed a token id; UnknownKey if unknown or retired."""
        # identifiers.is_token_id, written out: this runs for every token verified.
        if not isinstance(token_id, str) or TOKEN_ID_PATTERN.fullmatch(token_id) is None:
            raise MalformedToken("bad token id")
        key = self._by_tag.get(token_id[:8])
        if key is None or key.state == "retired":
            raise UnknownKey()
        return key

    def root_key(self, key: SigningKey, purpose: str, identifier: bytes) -> bytes:
        """Return a token's root key: HMAC(HKDF subkey of key for purpose, identifier)."""
        own = self._by_kid.get(key.kid)
        if own is None or (own is not key and not hmac.compare_digest(own.secret, key.secret)):
            raise UnknownKey()
        if own.state == "retired":
            raise UnknownKey()
        cache_key = (own.kid, purpose)
        subkey = self._subkeys.get(cache_key)
        if subkey is None:
            if not isinstance(purpose, str) or _PURPOSE.fullmatch(purpose) is None:
                raise ValueError("purpose must be 1-64 characters of [A-Za-z0-9_.:-]")
            subkey = FixedKeyHmac(_derive_subkey(own.secret, purpose))
            self._subkeys[cache_key] = subkey
        return subkey.digest(identifier)
