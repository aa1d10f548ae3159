"""libmacaroons V2: the binary format (doc/format.txt there).

A version byte 0x02, then fields of a type byte and a varint length:
location 1, identifier 2, verification id 4, signature 6, and 0 (end of a
section) after the header and after each caveat. Lengths are minimal
varints. F5 tokens are V2.
"""

from __future__ import annotations

from service.tokens.encoding.fields import field_text
from service.tokens.errors import MalformedToken
from service.tokens.macaroon import (
    SIGNATURE_SIZE,
    Caveat,
    Macaroon,
    first_party_caveat,
    new_caveat,
    new_macaroon,
)

__all__ = ["V2_VERSION", "decode_v2", "encode_v2"]

V2_VERSION = 2
"""The first byte of a V2 token; a V1 token starts with a hex digit."""
_EOS = 0
_LOCATION = 1
_IDENTIFIER = 2
_VID = 4
_SIGNATURE = 6


def _v2_header(ftype: int, n: int) -> bytes:
    out = bytearray((ftype,))
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Headers (type byte, one-byte length) of fields shorter than 128 bytes.
_LOCATION_V2 = [_v2_header(_LOCATION, n) for n in range(0x80)]
_IDENTIFIER_V2 = [_v2_header(_IDENTIFIER, n) for n in range(0x80)]
_VID_V2 = [_v2_header(_VID, n) for n in range(0x80)]
_SIGNATURE_V2 = b"\x00" + _v2_header(_SIGNATURE, SIGNATURE_SIZE)  # after the caveats' EOS


def encode_v2(m: Macaroon) -> bytes:
    """Encode a macaroon in the libmacaroons V2 binary format."""
    parts = [b"\x02"]
    if m.location:
        location = m.location.encode("utf-8")
        n = len(location)
        parts += (_LOCATION_V2[n] if n < 0x80 else _v2_header(_LOCATION, n), location)
    ident = m.identifier
    n = len(ident)
    parts += (_IDENTIFIER_V2[n] if n < 0x80 else _v2_header(_IDENTIFIER, n), ident, b"\x00")
    for c in m.caveats:
        if c.location is not None:
            cl = c.location.encode("utf-8")
            n = len(cl)
            parts += (_LOCATION_V2[n] if n < 0x80 else _v2_header(_LOCATION, n), cl)
        cid = c.cid
        n = len(cid)
        parts += (_IDENTIFIER_V2[n] if n < 0x80 else _v2_header(_IDENTIFIER, n), cid)
        vid = c.vid
        if vid is not None:
            n = len(vid)
            parts += (_VID_V2[n] if n < 0x80 else _v2_header(_VID, n), vid)
        parts.append(b"\x00")
    sig = m.signature
    if len(sig) == SIGNATURE_SIZE:
        parts += (_SIGNATURE_V2, sig)
    else:
        parts += (b"\x00", _v2_header(_SIGNATURE, len(sig)), sig)
    return b"".join(parts)


def _field_span(b: bytes, pos: int) -> tuple[int, int]:
    """Return (data start, data end) of the field whose type byte is at pos."""
    size = b[pos + 1]
    start = pos + 2
    if size >= 0x80:
        size, start = _read_varint(b, pos + 1)
    end = start + size
    if end > len(b):
        raise MalformedToken("truncated V2 token")
    return start, end


def _read_varint(b: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = b[pos]
        pos += 1
        if byte < 0x80:
            if byte == 0 and shift:
                raise MalformedToken("non-minimal varint")
            return value | (byte << shift), pos
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 28:
            raise MalformedToken("varint too long")


def decode_v2(b: bytes) -> Macaroon:
    """Decode the libmacaroons V2 binary format; MalformedToken if invalid."""
    try:
        return _decode_v2(b)
    except IndexError:
        raise MalformedToken("truncated V2 token") from None


def _decode_v2(b: bytes) -> Macaroon:
    if not b or b[0] != V2_VERSION:
        raise MalformedToken("not a V2 token")
    location = ""
    pos = 1
    if b[pos] == _LOCATION:
        start, pos = _field_span(b, pos)
        location = field_text(b[start:pos], "location")
    if b[pos] != _IDENTIFIER:
        raise MalformedToken("bad V2 header")
    start, pos = _field_span(b, pos)
    identifier = b[start:pos]
    if b[pos] != _EOS:
        raise MalformedToken("bad V2 header")
    pos += 1
    caveats: list[Caveat] = []
    append = caveats.append
    n = len(b)
    while True:
        ftype = b[pos]
        # The usual caveat, first-party with a cid under 128 bytes, read in
        # place; anything else is read field by field below.
        if ftype == _IDENTIFIER and b[pos + 1] < 0x80:
            end = pos + 2 + b[pos + 1]
            if end < n and b[end] == _EOS:
                append(first_party_caveat(b[pos + 2 : end]))
                pos = end + 1
                continue
        if ftype == _EOS:
            pos += 1
            break
        cl: str | None = None
        if ftype == _LOCATION:
            start, pos = _field_span(b, pos)
            cl = field_text(b[start:pos], "caveat location")
            ftype = b[pos]
        if ftype != _IDENTIFIER:
            raise MalformedToken("V2 caveat has no identifier")
        start, pos = _field_span(b, pos)
        cid = b[start:pos]
        ftype = b[pos]
        if ftype == _VID:
            start, pos = _field_span(b, pos)
            append(new_caveat(cid, b[start:pos], cl))
            ftype = b[pos]
        elif cl is None:
            append(first_party_caveat(cid))
        else:
            append(new_caveat(cid, None, cl))
        if ftype != _EOS:
            raise MalformedToken("bad V2 caveat")
        pos += 1
    if b[pos : pos + 2] != b"\x06\x20" or len(b) != pos + 2 + SIGNATURE_SIZE:
        raise MalformedToken("bad V2 signature")
    return new_macaroon(location, identifier, tuple(caveats), b[pos + 2 :])
