"""scrypt parameters come from the settings; every stored hash keeps verifying with its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from service import settings as settings_mod
from service.app import create_app
from service.settings import ScryptSettings, SettingsError, scrypt_memory
from service.store import passwords
from service.tokens.keys import KeyRing

SMALL = ScryptSettings(n=2**10, r=8, p=1, maxmem=64 << 20)


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = passwords.current()
    yield
    passwords.configure(before)


def _params_of(encoded: str) -> tuple[int, int, int]:
    scheme, n, r, p, _salt, _digest = encoded.split("$")
    assert scheme == "scrypt"
    return int(n), int(r), int(p)


def test_new_hashes_carry_the_configured_parameters() -> None:
    for params in (SMALL, ScryptSettings(n=2**11, r=4, p=2, maxmem=64 << 20)):
        passwords.configure(params)
        encoded = passwords.hash_password("pw")
        assert _params_of(encoded) == (params.n, params.r, params.p)
        assert passwords.check_password("pw", encoded)
        assert not passwords.check_password("other", encoded)


def test_hashes_made_with_other_parameters_keep_verifying() -> None:
    # Today's default (2^14, 8, 1), a cheap one and an odd one, made before the settings change.
    made = [
        passwords.hash_password("pw", params=ScryptSettings()),
        passwords.hash_password("pw", params=SMALL),
        passwords.hash_password("pw", params=ScryptSettings(n=2**9, r=2, p=3, maxmem=1 << 20)),
    ]
    passwords.configure(ScryptSettings(n=2**12, r=16, p=1, maxmem=64 << 20))
    for encoded in made:
        assert passwords.check_password("pw", encoded), encoded
        assert not passwords.check_password("pW", encoded), encoded


def test_a_stored_hash_needing_more_than_maxmem_is_refused_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encoded = passwords.hash_password("pw", params=ScryptSettings(n=2**15, r=8, p=1))
    passwords.configure(ScryptSettings(n=2**10, r=8, p=1, maxmem=scrypt_memory(2**14, 8, 1)))
    with caplog.at_level(logging.WARNING):
        assert not passwords.check_password("pw", encoded)
    assert any("scrypt.maxmem" in r.getMessage() for r in caplog.records)
    assert "pw" not in caplog.text.replace("password", "")


@pytest.mark.parametrize(
    "mangled",
    [
        "scrypt$1024$8$1$c2FsdA==",
        "scrypt$1000$8$1$c2FsdA==$AAAA",
        "scrypt$99999999999999999999$8$1$c2FsdA==$AAAA",
        "scrypt$1024$0$1$c2FsdA==$AAAA",
        "scrypt$1024$8$-1$c2FsdA==$AAAA",
        "bcrypt$1024$8$1$c2FsdA==$AAAA",
    ],
)
def test_malformed_hashes_never_verify(mangled: str) -> None:
    assert not passwords.check_password("pw", mangled)


def test_the_decoy_check_costs_what_a_real_one_does() -> None:
    passwords.configure(SMALL)
    assert _params_of(passwords._nobodys_hash(passwords.current())) == (SMALL.n, SMALL.r, SMALL.p)


def test_create_app_applies_the_scrypt_settings() -> None:
    settings = settings_mod.load(environ={"TOKEN_SERVICE_SCRYPT_N": "2048"})
    create_app(settings, keyring=KeyRing.generate_development())
    assert passwords.current() == ScryptSettings(n=2048)
    assert _params_of(passwords.hash_password("pw"))[0] == 2048


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"TOKEN_SERVICE_SCRYPT_N": "1000"}, "scrypt.n"),
        ({"TOKEN_SERVICE_SCRYPT_N": "1"}, "scrypt.n"),
        ({"TOKEN_SERVICE_SCRYPT_R": "0"}, "scrypt.r"),
        ({"TOKEN_SERVICE_SCRYPT_P": "65"}, "scrypt.p"),
        # OWASP's n without the memory it needs.
        ({"TOKEN_SERVICE_SCRYPT_N": "131072"}, "scrypt.maxmem"),
    ],
)
def test_bad_scrypt_settings_stop_the_start(env: dict[str, str], key: str) -> None:
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        settings_mod.load(environ=env)


def test_owasp_parameters_are_accepted_with_their_memory() -> None:
    need = scrypt_memory(2**17, 8, 1)
    assert need == 134_220_800  # 128 MiB and change, as the README says
    loaded = settings_mod.load(
        environ={"TOKEN_SERVICE_SCRYPT_N": "131072", "TOKEN_SERVICE_SCRYPT_MAXMEM": str(need)}
    )
    assert loaded.scrypt == ScryptSettings(n=2**17, r=8, p=1, maxmem=need)


def test_the_default_costs_16_mib() -> None:
    default = settings_mod.load(environ={}).scrypt
    assert (default.n, default.r, default.p) == (2**14, 8, 1)  # what every existing hash has
    assert scrypt_memory(default.n, default.r, default.p) // (1 << 20) == 16
