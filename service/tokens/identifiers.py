"""Token identifiers: what a token says about itself, inside the macaroon.

Onezone (ctool ``tokens:to_identifier/1``, version 2):

    2/nmd/usr-<userId>/act/<tokenId>            named access token
    2/tmp-<generation>/usr-<userId>/idn/<tokenId>   temporary identity token

F5 tokens (this service's own format):

    f5/1/<namespace>/<app>/<appGeneration>/usr-<userId>/<tokenId>

Token ids are 32 lowercase hex digits; user ids are any Onezone-style id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias, TypeGuard

from service.tokens.errors import MalformedToken

__all__ = [
    "NAME_PATTERN",
    "TOKEN_ID_PATTERN",
    "F5Identifier",
    "OnezoneIdentifier",
    "is_name",
    "is_token_id",
    "parse_identifier",
]

Persistence: TypeAlias = Literal["named", "temporary"]
Kind: TypeAlias = Literal["access", "identity"]

TOKEN_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
"""A token id: 32 lowercase hex digits (the signing key's tag, then random digits)."""

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
"""An F5 namespace or application name as identifiers and caveats carry it."""

_USER_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_GENERATION = re.compile(r"0|[1-9][0-9]{0,17}")
_KIND_CODES: dict[str, Kind] = {"act": "access", "idn": "identity"}
_CODE_BY_KIND = {"access": "act", "identity": "idn"}


def is_token_id(value: object) -> TypeGuard[str]:
    """Whether `value` is a token id: a string of 32 lowercase hex digits."""
    return isinstance(value, str) and TOKEN_ID_PATTERN.fullmatch(value) is not None


def is_name(value: str) -> bool:
    """Whether the string `value` matches NAME_PATTERN (an F5 namespace or app name)."""
    # Plain ASCII alphanumerics, the usual case, need no regular expression.
    if len(value) <= 128 and value.isascii() and value.isalnum():
        return True
    return NAME_PATTERN.fullmatch(value) is not None


def _check_ids(user_id: str, token_id: str) -> None:
    if not isinstance(user_id, str) or _USER_ID.fullmatch(user_id) is None:
        raise ValueError("user id must be 1-128 characters of [A-Za-z0-9_-]")
    # is_token_id written out: identifiers are parsed for every token verified.
    if not isinstance(token_id, str) or TOKEN_ID_PATTERN.fullmatch(token_id) is None:
        raise ValueError("token id must be 32 lowercase hex digits")


def _check_generation(generation: object) -> None:
    if type(generation) is not int or not 0 <= generation < 10**18:
        raise ValueError("generation must be a non-negative integer")


def _as_text(s: str | bytes) -> str:
    if isinstance(s, bytes):
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedToken("bad token identifier") from None
    if not isinstance(s, str):
        raise MalformedToken("bad token identifier")
    return s


@dataclass(frozen=True, slots=True)
class OnezoneIdentifier:
    """A version-2 Onezone token identifier."""

    persistence: Persistence
    generation: int | None
    user_id: str
    kind: Kind
    token_id: str

    def __post_init__(self) -> None:
        if self.persistence == "named":
            if self.generation is not None:
                raise ValueError("named tokens have no generation")
        elif self.persistence == "temporary":
            _check_generation(self.generation)
        else:
            raise ValueError("persistence must be named or temporary")
        if self.kind not in _CODE_BY_KIND:
            raise ValueError("kind must be access or identity")
        _check_ids(self.user_id, self.token_id)

    def encode(self) -> str:
        """Return the identifier text that goes into the macaroon."""
        persistence = "nmd" if self.generation is None else f"tmp-{self.generation}"
        return f"2/{persistence}/usr-{self.user_id}/{_CODE_BY_KIND[self.kind]}/{self.token_id}"

    @classmethod
    def parse(cls, s: str | bytes) -> OnezoneIdentifier:
        """Parse identifier text; MalformedToken if it is not a version-2 user token id."""
        parts = _as_text(s).split("/")
        if len(parts) != 5 or parts[0] != "2":
            raise MalformedToken("bad token identifier")
        _, persistence, subject, kind_code, token_id = parts
        generation: int | None = None
        if persistence != "nmd":
            if not persistence.startswith("tmp-") or not _GENERATION.fullmatch(persistence[4:]):
                raise MalformedToken("bad token identifier")
            generation = int(persistence[4:])
        kind = _KIND_CODES.get(kind_code)
        if kind is None or not subject.startswith("usr-"):
            raise MalformedToken("bad token identifier")
        try:
            return cls(
                "named" if generation is None else "temporary",
                generation,
                subject[4:],
                kind,
                token_id,
            )
        except ValueError:
            raise MalformedToken("bad token identifier") from None


@dataclass(frozen=True, slots=True)
class F5Identifier:
    """An F5 token identifier."""

    namespace: str
    app: str
    generation: int
    user_id: str
    token_id: str

    def __post_init__(self) -> None:
        for value, what in ((self.namespace, "namespace"), (self.app, "app")):
            if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
                raise ValueError(f"{what} must be 1-128 characters of [A-Za-z0-9_.-]")
        _check_generation(self.generation)
        _check_ids(self.user_id, self.token_id)

    def encode(self) -> str:
        """Return the identifier text that goes into the macaroon."""
        return (
            f"f5/1/{self.namespace}/{self.app}/{self.generation}/usr-{self.user_id}/{self.token_id}"
        )

    @classmethod
    def parse(cls, s: str | bytes) -> F5Identifier:
        """Parse identifier text; MalformedToken if it is not an F5 token id."""
        parts = _as_text(s).split("/")
        if len(parts) != 7 or parts[0] != "f5" or parts[1] != "1":
            raise MalformedToken("bad token identifier")
        _, _, namespace, app, generation, subject, token_id = parts
        if not _GENERATION.fullmatch(generation) or not subject.startswith("usr-"):
            raise MalformedToken("bad token identifier")
        try:
            return cls(namespace, app, int(generation), subject[4:], token_id)
        except ValueError:
            raise MalformedToken("bad token identifier") from None


def parse_identifier(s: str | bytes) -> OnezoneIdentifier | F5Identifier:
    """Parse either kind of identifier; MalformedToken if it is neither."""
    text = _as_text(s)
    if text.startswith("f5/"):
        return F5Identifier.parse(text)
    return OnezoneIdentifier.parse(text)
