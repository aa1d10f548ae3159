"""`token-service token inspect`: the parts of one of this service's tokens, offline."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, cast

from service import settings as settings_mod

if TYPE_CHECKING:
    import argparse


def cmd_token_inspect(args: argparse.Namespace) -> int:
    """`token inspect TOKEN|-`: exit status 1 when it is not a token of this service."""
    from service.authority import F5_LOCATION
    from service.tokens import encoding
    from service.tokens.errors import TokenError
    from service.tokens.examine import examine

    settings = settings_mod.load(getattr(args, "config", None))
    text = args.token.strip()
    if text == "-":
        text = sys.stdin.read().strip()
    try:
        fmt, m = encoding.deserialize_any(text, max_length=1 << 20)
    except TokenError as e:
        print(f"error: not a token: {e.reason}", file=sys.stderr)
        return 1
    try:
        # Only this service's tokens, of the configured locations: as examine.
        examined = examine(m, settings.onezone.domain, F5_LOCATION)
    except TokenError as e:
        location = m.location.encode("unicode_escape").decode("ascii")
        print(
            f"error: not a token of this service: {e.reason} (location {location!r})",
            file=sys.stderr,
        )
        return 1
    subject = cast(dict[str, str], examined["subject"])
    described = cast(list[dict[str, object]], examined["caveats"])
    kind = "access" if examined["type"] == {"accessToken": {}} else "identity"
    print(f"format: {fmt}")
    print(f"location: {m.location}")
    print(f"identifier: {m.identifier.decode('ascii')}")
    if "namespace" in examined:
        print("kind: f5")
        print(f"namespace: {examined['namespace']}")
        print(f"app: {examined['app']}")
    else:
        print(f"kind: onezone {examined['persistence']} {kind} token")
    if "generation" in examined:
        print(f"generation: {examined['generation']}")
    print(f"id: {examined['id']}")
    print(f"subject: usr-{subject['id']}")
    for c, form in zip(m.caveats, described, strict=True):
        print(f"caveat: {c.cid.decode('utf-8', 'backslashreplace')}")
        # Each kind's JSON form, as examine shows it; the text is what is signed.
        if form.get("type") == "unknown":
            print("  not understood (unknown caveat): the token is refused")
        else:
            print(f"  json: {json.dumps(form)}")
    print(f"signature: {m.signature.hex()}")
    return 0


def add_parser(sub: Any) -> None:
    """`token inspect`."""
    token = sub.add_parser("token", help="tokens, offline")
    token_sub = token.add_subparsers(dest="token_action", required=True)
    inspect = token_sub.add_parser(
        "inspect",
        help="print the parts of one of this service's tokens, in any encoding (offline)",
    )
    inspect.add_argument("token", help="the token, or - to read it from standard input")
    token.set_defaults(func=cmd_token_inspect)
