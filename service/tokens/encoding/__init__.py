"""Binary and text forms of macaroons.

V1 and V2 are the libmacaroons binary formats (doc/format.txt there); the text
forms are base64 of those bytes. Onezone tokens are V1 in base64url without
padding, with Onedata's escaping on top so they are purely alphanumeric.
F5 tokens are V2 in standard base64 with padding.

Readers accept either base64 alphabet (as libmacaroons does), padded or not,
but pads must be right and the unused bits of the last character zero, so a
token has no spellings beyond those of the alphabet and padding.

The modules: ``base64_text`` (base64 and Onedata's escaping), ``v1`` and
``v2`` (the binary formats), ``forms`` (the text forms, and reading a token
whatever its form), ``fields`` (what the binary readers share).
"""

from __future__ import annotations

from service.tokens.encoding.base64_text import b64decode_any, onedata_escape, onedata_unescape
from service.tokens.encoding.forms import (
    DEFAULT_MAX_LENGTH,
    F5_MAX_LENGTH,
    decode_binary,
    deserialize,
    deserialize_any,
    deserialize_f5,
    deserialize_onezone,
    serialize_f5,
    serialize_onezone,
    serialize_v1,
    serialize_v2,
)
from service.tokens.encoding.v1 import decode_v1, encode_v1
from service.tokens.encoding.v2 import decode_v2, encode_v2

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "F5_MAX_LENGTH",
    "b64decode_any",
    "decode_binary",
    "decode_v1",
    "decode_v2",
    "deserialize",
    "deserialize_any",
    "deserialize_f5",
    "deserialize_onezone",
    "encode_v1",
    "encode_v2",
    "onedata_escape",
    "onedata_unescape",
    "serialize_f5",
    "serialize_onezone",
    "serialize_v1",
    "serialize_v2",
]
