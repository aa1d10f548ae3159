"""The text layer of tokens: base64 in either alphabet, and Onedata's escaping.

Readers accept standard or URL-safe base64, padded or not, but pads must be
right and the unused bits of the last character zero, so a token has no
spellings beyond those of the alphabet and padding. Onedata escapes the
base64 text of a Onezone token (``0``→``00``, ``_``→``01``, ``-``→``02``,
``/``→``03``, ``+``→``04``, ``=``→``05``) so that it is purely alphanumeric.
"""

from __future__ import annotations

import binascii

from service.tokens.errors import MalformedToken

__all__ = [
    "b64decode_any",
    "b64std_encode",
    "b64url_encode",
    "onedata_escape",
    "onedata_unescape",
]

_STD_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INDEX = {c: i for i, c in enumerate(_STD_ALPHABET)}
_a2b = binascii.a2b_base64
_b2a = binascii.b2a_base64


def b64decode_any(s: str | bytes) -> bytes:
    """Decode standard or URL-safe base64, padded or not; MalformedToken if invalid."""
    # Works on str: str.replace maps the URL-safe alphabet faster than
    # bytes.translate, and a2b_base64 takes ASCII text as it is.
    if isinstance(s, str):
        if not s.isascii():
            raise MalformedToken("token is not base64")
        text = s
    else:
        try:
            text = bytes(s).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedToken("token is not base64") from None
    n = len(text)
    if n == 0:
        raise MalformedToken("empty token")
    if text[-1] == "=":
        if n % 4:
            raise MalformedToken("bad base64 padding")
        core = text[:-2] if text[-2] == "=" else text[:-1]
    else:
        core = text
    core = core.replace("-", "+").replace("_", "/")
    rem = len(core) % 4
    if rem:
        if rem == 1:
            raise MalformedToken("bad base64 length")
        # Unused low bits of the last character must be zero (RFC 4648 3.5),
        # otherwise several strings would decode to the same token.
        last = _INDEX.get(core[-1], -1)
        if last < 0 or last & (0x0F if rem == 2 else 0x03):
            raise MalformedToken("non-canonical base64")
        core += "==" if rem == 2 else "="
    try:
        return _a2b(core, strict_mode=True)
    except binascii.Error:
        raise MalformedToken("token is not base64") from None


def b64url_encode(raw: bytes) -> str:
    """Base64url without padding (the libmacaroons text form)."""
    # As in b64decode_any, str.replace beats bytes.translate for the alphabet.
    return _b2a(raw, newline=False).decode("ascii").rstrip("=").replace("+", "-").replace("/", "_")


def b64std_encode(raw: bytes) -> str:
    """Standard base64 with padding (the F5 text form)."""
    return _b2a(raw, newline=False).decode("ascii")


# Escape digits after a "0" other than "0" itself.
_UNESCAPE = {"1": "_", "2": "-", "3": "/", "4": "+", "5": "="}


def onedata_escape(s: str) -> str:
    """Escape base64 text the way Onedata does, leaving only alphanumerics."""
    # Chained replace is faster than str.translate with a dict; "0" goes
    # first so that the escapes it introduces stay as they are.
    return (
        s.replace("0", "00")
        .replace("_", "01")
        .replace("-", "02")
        .replace("/", "03")
        .replace("+", "04")
        .replace("=", "05")
    )


def onedata_unescape(s: str) -> str:
    """Undo onedata_escape; MalformedToken on a bad or dangling escape."""
    # Escaped text is characters other than 0_-/+= and escapes "0" + [0-5].
    # Splitting on "0" and reading the pieces left to right is faster than a
    # regular expression over every character: a piece after a
    # "0" starts with its escape digit, and an empty piece means the digit
    # was itself a "0", so the piece after it is plain text.
    if "_" in s or "-" in s or "/" in s or "+" in s or "=" in s:
        raise MalformedToken("bad Onedata escape")
    pieces = s.split("0")
    if len(pieces) == 1:
        return s
    out = [pieces[0]]
    append = out.append
    n = len(pieces)
    i = 1
    while i < n:
        piece = pieces[i]
        if piece:
            char = _UNESCAPE.get(piece[0])
            if char is None:
                raise MalformedToken("bad Onedata escape")
            append(char)
            append(piece[1:])
            i += 1
        elif i + 1 < n:
            append("0")
            append(pieces[i + 1])
            i += 2
        else:
            raise MalformedToken("dangling Onedata escape")
    return "".join(out)
