"""Password hashing with scrypt; checks run off the event loop and compare in constant time.

A hash carries its parameters (`scrypt$n$r$p$salt$hash`), so hashes made
with other settings keep verifying after `scrypt.*` changes; new and changed
passwords get the configured ones. `scrypt.maxmem` bounds what any check may
allocate, stored hashes included.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import os

from service.settings import ScryptSettings, scrypt_memory

log = logging.getLogger(__name__)

_params = ScryptSettings()


def configure(params: ScryptSettings) -> None:
    """Use `params` for new hashes and `params.maxmem` for every check, from now on."""
    global _params
    _params = params


def current() -> ScryptSettings:
    """The parameters new hashes get."""
    return _params


def hash_password(
    password: str, *, n: int | None = None, params: ScryptSettings | None = None
) -> str:
    """An encoded scrypt hash with the configured parameters: `scrypt$n$r$p$salt$hash`."""
    params = params or _params
    n = params.n if n is None else n
    r, p = params.r, params.p
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=params.maxmem
    )
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, encoded: str) -> bool:
    """Whether `password` matches an encoded hash; False for any malformed hash."""
    maxmem = _params.maxmem
    try:
        scheme, n_text, r_text, p_text, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        n, r, p = int(n_text), int(r_text), int(p_text)
        if scrypt_memory(n, r, p) > maxmem:
            log.warning(
                "a stored password hash needs %d bytes, more than scrypt.maxmem (%d): refused",
                scrypt_memory(n, r, p),
                maxmem,
            )
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=n,
            r=r,
            p=p,
            dklen=len(expected),
            maxmem=maxmem,
        )
    except (ValueError, TypeError, OverflowError):
        return False
    return hmac.compare_digest(actual, expected)


async def check_password_async(password: str, encoded: str) -> bool:
    """`check_password` in a worker thread: scrypt is deliberately slow."""
    return await asyncio.to_thread(check_password, password, encoded)


@functools.cache
def _nobodys_hash(params: ScryptSettings) -> str:
    return hash_password("not a real password", params=params)


async def check_against_nobody(password: str) -> None:
    """Spend what a real check costs, so that a missing user cannot be told apart by timing."""
    encoded = await asyncio.to_thread(_nobodys_hash, _params)
    await check_password_async(password, encoded)
