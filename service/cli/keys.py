"""`token-service keys generate`: a new entry for the keys file, printed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


def cmd_keys(args: argparse.Namespace) -> int:
    """`keys generate`: print one key entry as JSON."""
    from service.tokens.keys import KeyRing

    entry = KeyRing.generate_entry(args.kid, args.state)
    print(json.dumps(entry))
    return 0


def add_parser(sub: Any) -> None:
    """`keys generate [--kid K] [--state S]`."""
    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="keys_action", required=True)
    gen = keys_sub.add_parser("generate", help="print a new key entry for the keys file")
    gen.add_argument("--kid")
    gen.add_argument("--state", choices=["active", "verify", "retired"], default="active")
    keys.set_defaults(func=cmd_keys)
