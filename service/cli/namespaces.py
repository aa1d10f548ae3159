"""`token-service namespaces add | remove | grant | revoke | list`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.cli.common import find_user, with_store

if TYPE_CHECKING:
    import argparse


def cmd_namespaces(args: argparse.Namespace) -> int:
    """`namespaces <action>`: the command's exit status."""
    action = args.ns_action

    async def run(store: Any) -> None:
        if action == "add":
            await store.namespaces.create(args.name)
            print(f"added namespace {args.name}")
        elif action == "remove":
            await store.namespaces.delete(args.name)
            print(f"removed namespace {args.name} with its applications")
        elif action in {"grant", "revoke"}:
            uid = (await find_user(store, args.user)).id
            if action == "grant":
                await store.namespaces.grant(args.namespace, uid, args.role)
                print(f"{args.user} is {args.role} of {args.namespace}")
            else:
                await store.namespaces.revoke_role(args.namespace, uid)
                print(f"{args.user} has no role in {args.namespace}")
        else:
            for ns in await store.namespaces.names():
                print(ns)

    return with_store(args, run)


def add_parser(sub: Any) -> None:
    """`namespaces` and its actions."""
    ns = sub.add_parser("namespaces", help="manage F5 namespaces and role bindings")
    ns_sub = ns.add_subparsers(dest="ns_action", required=True)
    ns_add = ns_sub.add_parser("add")
    ns_add.add_argument("name")
    ns_remove = ns_sub.add_parser("remove")
    ns_remove.add_argument("name")
    grant = ns_sub.add_parser("grant")
    grant.add_argument("namespace")
    grant.add_argument("user")
    grant.add_argument("role", choices=["editor", "viewer"])
    revoke = ns_sub.add_parser("revoke")
    revoke.add_argument("namespace")
    revoke.add_argument("user")
    ns_sub.add_parser("list")
    ns.set_defaults(func=cmd_namespaces)
