"""`token-service users add | passwd | remove | list | tokens | revoke-tokens`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.cli.common import find_user, load_settings, read_password, with_store

if TYPE_CHECKING:
    import argparse

    from service.store import Store


async def _named_tokens(store: Store, uid: str) -> list[dict[str, Any]]:
    """A user's live named tokens, ordered by name, as the JSON of `users tokens --json`.

    Only what an operator needs to tell them apart: never the token itself,
    its caveats or its signing key.
    """
    return [
        {
            "id": tid,
            "name": record.get("name", ""),
            "type": "identity" if record.get("type") == "identity" else "access",
            "creationTime": int(record.get("created", "0")),
            "expires": int(record.get("exp", "0")) or None,
            "revoked": record.get("revoked") == "1",
        }
        for tid, record in await store.named.records(uid)
    ]


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_token_table(tokens: Sequence[dict[str, Any]], generation: int) -> str:
    """`users tokens` for a terminal: aligned columns, then the temporary-token generation."""
    lines = ["no named tokens"]
    if tokens:
        rows = [("ID", "NAME", "TYPE", "CREATED", "EXPIRES", "REVOKED")]
        rows += [
            (
                t["id"],
                t["name"],
                t["type"],
                _utc(t["creationTime"]),
                "never" if t["expires"] is None else _utc(t["expires"]),
                "yes" if t["revoked"] else "no",
            )
            for t in tokens
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
    lines.append(f"temporary tokens: generation {generation}")
    return "\n".join(lines)


def cmd_users(args: argparse.Namespace) -> int:
    """`users <action>`: the command's exit status."""
    action = args.users_action
    if action == "tokens":

        async def tokens(store: Store) -> None:
            user = await find_user(store, args.name)
            listed = await _named_tokens(store, user.id)
            generation = await store.temporary.generation(user.id)
            if args.json:
                print(json.dumps({"tokens": listed, "temporaryGeneration": generation}))
            else:
                print(format_token_table(listed, generation))

        return with_store(args, tokens)
    if action == "revoke-tokens":
        settings = load_settings(args)

        async def revoke_tokens(store: Store) -> None:
            user = await find_user(store, args.name)
            deleted = await store.named.delete_all(user.id)
            # The generation must outlive every temporary token: the service's own TTL.
            ttl = settings.onezone.max_temporary_token_ttl
            generation = await store.temporary.revoke(user.id, ttl)
            print(
                f"deleted {deleted} named token(s) of {user.name}; "
                f"their temporary tokens are revoked (generation {generation})"
            )

        return with_store(args, revoke_tokens, settings)
    if action == "add":
        password = read_password(args)

        async def add(store: Any) -> None:
            user = await store.users.create(args.name, password, admin=args.admin)
            print(f"added {user.name} ({user.id}){' admin' if user.admin else ''}")

        return with_store(args, add)
    if action == "passwd":
        password = read_password(args)

        async def passwd(store: Any) -> None:
            await store.users.set_password(args.name, password)
            print(f"password of {args.name} changed")

        return with_store(args, passwd)
    if action == "remove":

        async def remove(store: Any) -> None:
            await store.users.remove(args.name)
            print(f"removed {args.name}; their tokens no longer verify")

        return with_store(args, remove)

    async def list_users(store: Any) -> None:
        for user in await store.users.all():
            print(f"{user.name}\t{user.id}\t{'admin' if user.admin else 'user'}")

    return with_store(args, list_users)


def add_parser(sub: Any) -> None:
    """`users` and its actions."""
    users = sub.add_parser("users", help="manage users in the configured store")
    users_sub = users.add_subparsers(dest="users_action", required=True)
    add = users_sub.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--password-stdin", action="store_true")
    passwd = users_sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    remove = users_sub.add_parser("remove", help="remove a user; all their tokens fail")
    remove.add_argument("name")
    users_sub.add_parser("list", help="print every user: name, id, admin or user")
    user_tokens = users_sub.add_parser(
        "tokens",
        help="list a user's live named tokens (never the tokens themselves) "
        "and their temporary-token generation",
    )
    user_tokens.add_argument("name")
    user_tokens.add_argument(
        "--json",
        action="store_true",
        help='print {"tokens": [...], "temporaryGeneration": N} instead of a table',
    )
    revoke_tokens = users_sub.add_parser(
        "revoke-tokens",
        help="delete all of a user's named tokens and revoke all their temporary tokens "
        "(the user may still mint new ones: change the password or remove the user too)",
    )
    revoke_tokens.add_argument("name")
    users.set_defaults(func=cmd_users)
