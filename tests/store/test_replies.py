"""Script replies decoded by name, in every shape the scripts answer."""

from __future__ import annotations

from service.settings import RateLimitPolicy
from service.store.records import CheckResult, Foreign
from service.store.replies import (
    decode_check_f5,
    decode_check_lineage,
    decode_check_named,
    decode_check_owner,
    decode_counted,
    decode_minted,
)

POLICY = RateLimitPolicy("mint", limit=10, period=60)


def test_a_counter_reply_names_its_status_and_its_rate() -> None:
    counted = decode_counted(POLICY, [b"limited", 0, 6000, 60000])
    assert counted.status == "limited"
    assert not counted.rate.allowed
    assert counted.rate.retry_after == 6.0 and counted.rate.reset_after == 60.0
    assert decode_counted(POLICY, [b"exists", 3, 0, 1000]).rate.allowed


def test_a_mint_reply_carries_the_generation() -> None:
    minted = decode_minted(POLICY, [b"ok", 9, 0, 6000, 4])
    assert (minted.status, minted.generation, minted.rate.remaining) == ("ok", 4, 9)


def test_a_named_check_reply_in_each_of_its_lengths() -> None:
    assert decode_check_named([b"nouser"]) == CheckResult("nouser")
    assert decode_check_named([b"revoked", b"ann", b"1"]) == CheckResult("revoked", "ann", True)
    assert decode_check_named(
        [b"ok", b"ann", b"0", b"a b", b"3", b"f" * 32, b"c", b"2"]
    ) == CheckResult("ok", "ann", False, ("a", "b"), 3, Foreign("f" * 32, ("c",), 2))
    assert decode_check_named([b"ok", b"ann", b"0", b"", b"", b"", b"", b""]) == CheckResult(
        "ok", "ann", False
    )


def test_an_owner_check_reply_says_whether_a_link_was_found() -> None:
    unlinked = decode_check_owner([b"ok", b"bo", b"1", b"0", b"", b"", b"", b"", b""])
    assert unlinked == (CheckResult("ok", "bo", True), False)
    linked = decode_check_owner([b"ok", b"bo", b"0", b"1", b"x", b"", b"", b"", b""])
    assert linked.linked and linked.result.ancestors == ("x",)
    assert decode_check_owner([b"nouser"]) == (CheckResult("nouser"), False)


def test_the_application_and_lineage_replies() -> None:
    assert decode_check_f5([b"ok", b"1", b"2"]) == ("ok", True, "2")
    assert decode_check_f5([b"noapp", b"0", b""]).role_generation == ""
    assert decode_check_lineage([b"ok"]) and not decode_check_lineage([b"revoked"])
