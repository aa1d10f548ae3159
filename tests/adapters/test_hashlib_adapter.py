"""The HMAC-SHA256 adapter: ``_hashlib``'s interface as the signature chain uses it.

If one of these fails after a Python upgrade, ``_hashlib`` has changed:
fix service/adapters/hmac_sha256.py (or let it fall back to ``hmac.new``).
"""

import hashlib
import hmac
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from service.adapters import hmac_sha256
from service.tokens import macaroon

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
)


def _hashlib_module() -> ModuleType:
    # CPython with OpenSSL (every platform the service runs on) has it.
    try:
        return importlib.import_module("_hashlib")
    except ImportError:  # pragma: no cover - only when the standard library changes
        pytest.fail(
            "the standard library has no _hashlib: service/adapters/hmac_sha256.py now falls "
            "back to hmac.new, which is correct but slower; find the new fast function or "
            "accept the cost"
        )


def test_the_private_function_is_there() -> None:
    hashlib_private = _hashlib_module()
    assert hasattr(hashlib_private, "hmac_new"), (
        "_hashlib.hmac_new is gone: service/adapters/hmac_sha256.py now falls back to "
        "hmac.new, which is correct but slower; find the new fast function or accept the cost"
    )
    assert callable(hashlib_private.hmac_new), "_hashlib.hmac_new is no longer callable"
    assert hmac_sha256.new_hmac is hashlib_private.hmac_new, (
        "the adapter does not hand out _hashlib.hmac_new although it exists"
    )
    assert hmac_sha256.USES_OPENSSL_DIRECTLY


def test_the_private_function_takes_the_arguments_we_pass() -> None:
    hashlib_private = _hashlib_module()
    try:
        mac = hashlib_private.hmac_new(b"key", b"message", "sha256")
    except TypeError as e:  # pragma: no cover - only when _hashlib changes
        pytest.fail(f"_hashlib.hmac_new(key, msg, 'sha256') no longer works: {e}")
    assert hasattr(mac, "digest"), "_hashlib.hmac_new(...) returns an object without digest()"
    assert mac.digest() == hmac.new(b"key", b"message", hashlib.sha256).digest(), (
        "_hashlib.hmac_new(key, msg, 'sha256').digest() is not HMAC-SHA256 any more"
    )


@SETTINGS
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_same_digests_as_the_public_api(key: bytes, msg: bytes) -> None:
    expected = hmac.new(key, msg, hashlib.sha256).digest()
    assert hmac_sha256.new_hmac(key, msg, "sha256").digest() == expected


def test_the_signature_chain_uses_the_adapter() -> None:
    # Bound once at import: the chain calls the adapter's function itself.
    assert macaroon._new_hmac is hmac_sha256.new_hmac


def test_without_hashlib_the_public_api_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh copy of the adapter, loaded while "import _hashlib" fails.
    monkeypatch.setitem(sys.modules, "_hashlib", None)
    path = Path(hmac_sha256.__file__)
    spec = importlib.util.spec_from_file_location("hmac_sha256_without_hashlib", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.new_hmac is hmac.new
    assert not module.USES_OPENSSL_DIRECTLY
    expected = hmac.new(b"k" * 40, b"msg", hashlib.sha256).digest()
    assert module.new_hmac(b"k" * 40, b"msg", "sha256").digest() == expected
