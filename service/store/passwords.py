"""Password hashing with scrypt; checks run off the event loop and compare in constant time."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import os

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, n: int = _N) -> str:
    """An encoded scrypt hash: `scrypt$n$r$p$salt$hash`."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, encoded: str) -> bool:
    """Whether `password` matches an encoded hash; False for any malformed hash."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


async def check_password_async(password: str, encoded: str) -> bool:
    """`check_password` in a worker thread: scrypt is deliberately slow."""
    return await asyncio.to_thread(check_password, password, encoded)


@functools.cache
def _nobodys_hash() -> str:
    return hash_password("not a real password")


async def check_against_nobody(password: str) -> None:
    """Spend what a real check costs, so that a missing user cannot be told apart by timing."""
    encoded = await asyncio.to_thread(_nobodys_hash)
    await check_password_async(password, encoded)
