"""HMAC-SHA256 through OpenSSL's HMAC object, without the `hmac` module's Python layer.

`new_hmac(key, msg, "sha256")` returns an object whose ``digest()`` is
HMAC-SHA256(key, msg). Every step of a macaroon's signature chain hashes
under a new key, so this call is most of the cost of minting and verifying;
`hmac.new` reaches the same OpenSSL object only through a Python-level
wrapper class.

The fast function is the standard library's private ``_hashlib.hmac_new``,
bound once at import, so a caller pays nothing for going through this
module. Where ``_hashlib`` or its ``hmac_new`` is missing (a Python built
without OpenSSL, or a later version that drops it), `new_hmac` is the
public `hmac.new`, which takes the same arguments and gives the same
digests. ``tests/adapters/test_hashlib_adapter.py`` fails when
``_hashlib`` changes underneath.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Protocol

__all__ = ["USES_OPENSSL_DIRECTLY", "HmacObject", "new_hmac"]


class HmacObject(Protocol):
    """What `new_hmac` returns: an HMAC over the message given, ready to digest."""

    def digest(self) -> bytes:
        """The MAC of the key and message given to `new_hmac`."""
        ...


new_hmac: Callable[[bytes, bytes, str], HmacObject]
"""``new_hmac(key, msg, "sha256").digest()`` is HMAC-SHA256(key, msg)."""

try:
    from _hashlib import hmac_new as new_hmac
except ImportError:  # pragma: no cover - CPython without OpenSSL
    new_hmac = hmac.new

USES_OPENSSL_DIRECTLY: bool = new_hmac is not hmac.new
"""Whether `new_hmac` is ``_hashlib.hmac_new`` rather than the public `hmac.new`."""
