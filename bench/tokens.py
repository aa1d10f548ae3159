"""Micro-benchmark of the token core against pymacaroons.

Prints microseconds per operation for (a) mint + serialize and (b) parse +
verify of a token with three caveats, in V1 and V2, for both libraries in the
same run, and how many times faster the core is.

    python bench/tokens.py [--quick]
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable

import pymacaroons

from service.tokens.encoding import deserialize, serialize_v1, serialize_v2
from service.tokens.macaroon import mint
from service.tokens.verifier import Context, Verifier

ROOT_KEY = bytes(range(32))
LOCATION = "onezone"
IDENTIFIER = (
    "f5/1/shop/checkout/0/usr-0123456789abcdef0123456789abcdef/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)
NOW = 1_700_000_000
CAVEATS = [f"time < {NOW + 3600}", "namespace = shop", "app = checkout"]
CONTEXT = Context(now=NOW, namespace="shop", app="checkout")


def ours_mint(serialize: Callable[..., str]) -> Callable[[], str]:
    def run() -> str:
        return serialize(mint(ROOT_KEY, IDENTIFIER, LOCATION, CAVEATS))

    return run


def ours_verify(token: str) -> Callable[[], object]:
    verifier = Verifier()

    def run() -> object:
        return verifier.verify(deserialize(token), ROOT_KEY, CONTEXT)

    return run


def pym_mint(version: int) -> Callable[[], str]:
    def run() -> str:
        m = pymacaroons.Macaroon(
            location=LOCATION, identifier=IDENTIFIER, key=ROOT_KEY, version=version
        )
        for c in CAVEATS:
            m.add_first_party_caveat(c)
        return str(m.serialize())

    return run


def _time_ok(predicate: str) -> bool:
    if not predicate.startswith("time < "):
        return False
    return NOW < int(predicate[7:])


def pym_verify(token: str) -> Callable[[], object]:
    def run() -> object:
        m = pymacaroons.Macaroon.deserialize(token)
        v = pymacaroons.Verifier()
        v.satisfy_exact("namespace = shop")
        v.satisfy_exact("app = checkout")
        v.satisfy_general(_time_ok)
        return v.verify(m, ROOT_KEY)

    return run


def per_op_us(fns: list[Callable[[], object]], quick: bool) -> list[float]:
    """The best µs per call of each function, measured in interleaved rounds.

    On a shared machine the speed drifts within seconds; measuring the core and
    pymacaroons in alternation exposes both to the same drift, so their ratio
    holds where separate runs would not.
    """
    timers = [timeit.Timer(fn) for fn in fns]
    numbers = [max(1, timer.autorange()[0] // 10) for timer in timers]
    best = [float("inf")] * len(fns)
    for _ in range(10 if quick else 60):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number)
    return [b * 1e6 for b in best]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    rows: list[tuple[str, float, float]] = []
    for name, version, serialize in (
        ("V1", pymacaroons.MACAROON_V1, serialize_v1),
        ("V2", pymacaroons.MACAROON_V2, serialize_v2),
    ):
        token = serialize(mint(ROOT_KEY, IDENTIFIER, LOCATION, CAVEATS))
        # Both sides must agree on the token before their speed is compared.
        assert pym_mint(version)() == token
        assert ours_verify(token)() is not None and pym_verify(token)()
        ours_m, theirs_m, ours_v, theirs_v = per_op_us(
            [ours_mint(serialize), pym_mint(version), ours_verify(token), pym_verify(token)],
            quick,
        )
        rows.append((f"mint + serialize ({name})", ours_m, theirs_m))
        rows.append((f"parse + verify ({name})", ours_v, theirs_v))
    print(f"token with {len(CAVEATS)} caveats, Python {sys.version.split()[0]}")
    print(f"{'operation':<26}{'core µs':>10}{'pymacaroons µs':>17}{'ratio':>8}")
    for label, ours, theirs in rows:
        print(f"{label:<26}{ours:>10.2f}{theirs:>17.2f}{theirs / ours:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
