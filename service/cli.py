"""`token-service serve | users | namespaces | keys | token inspect`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from service import settings as settings_mod
from service.errors import ServiceError
from service.settings import Settings, SettingsError

log = logging.getLogger("service")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _load_settings(args: argparse.Namespace) -> Settings:
    settings = settings_mod.load(getattr(args, "config", None))
    overrides = {}
    for key in ("host", "port", "workers"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[f"server__{key}"] = value
    if overrides:
        settings = settings.replace(**overrides)
        if not 1 <= settings.server.port <= 65535:
            raise SettingsError("server.port: must be 1..65535")
        if not 1 <= settings.server.workers <= 256:
            raise SettingsError("server.workers: must be 1..256")
    return settings


# serve -------------------------------------------------------------------


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    from aiohttp import web

    from service.app import create_app

    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    _configure_logging(settings.server.log_level)
    app = create_app(settings)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        reuse_port=reuse_port or None,
        shutdown_timeout=settings.server.shutdown_grace,
        access_log=None,
        print=None,
        handle_signals=True,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load_settings(args)
    _configure_logging(settings.server.log_level)
    log.info(
        "serving on http://%s:%d with %d worker(s)",
        settings.server.host,
        settings.server.port,
        settings.server.workers,
    )
    if settings.server.workers == 1:
        _run_worker(settings, reuse_port=False)
        return 0
    if settings.redis.url.startswith("memory://"):
        raise SettingsError("server.workers: several workers need a shared Redis, not memory://")
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics here; /metrics in any worker sums them.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="token-service-metrics-")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_run_worker, args=(settings, True), name=f"worker-{i}")
        for i in range(settings.server.workers)
    ]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)


# store commands ----------------------------------------------------------


def _with_store(args: argparse.Namespace, fn: Callable[[Any], Awaitable[None]]) -> int:
    from service.store import Store

    settings = _load_settings(args)
    if settings.redis.url.startswith("memory://"):
        print(
            "error: redis.url is memory:// - the embedded store lives inside the service process; "
            "set TOKEN_SERVICE_REDIS_URL to the service's Redis",
            file=sys.stderr,
        )
        return 2

    async def run() -> None:
        store = Store(settings.redis)
        try:
            await fn(store)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except ServiceError as e:
        print(f"error: {e.reason}", file=sys.stderr)
        return 1
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            raise SystemExit("error: passwords differ")
    if not password:
        raise SystemExit("error: empty password")
    return password


def cmd_users(args: argparse.Namespace) -> int:
    action = args.users_action
    if action == "add":
        password = _read_password(args)

        async def add(store: Any) -> None:
            user = await store.create_user(args.name, password, admin=args.admin)
            print(f"added {user.name} ({user.id}){' admin' if user.admin else ''}")

        return _with_store(args, add)
    if action == "passwd":
        password = _read_password(args)

        async def passwd(store: Any) -> None:
            await store.set_password(args.name, password)
            print(f"password of {args.name} changed")

        return _with_store(args, passwd)
    if action == "remove":

        async def remove(store: Any) -> None:
            await store.remove_user(args.name)
            print(f"removed {args.name}; their tokens no longer verify")

        return _with_store(args, remove)

    async def list_users(store: Any) -> None:
        for user in await store.list_users():
            print(f"{user.name}\t{user.id}\t{'admin' if user.admin else 'user'}")

    return _with_store(args, list_users)


def cmd_namespaces(args: argparse.Namespace) -> int:
    action = args.ns_action

    async def run(store: Any) -> None:
        if action == "add":
            await store.create_namespace(args.name)
            print(f"added namespace {args.name}")
        elif action == "remove":
            await store.delete_namespace(args.name)
            print(f"removed namespace {args.name} with its applications")
        elif action in {"grant", "revoke"}:
            uid = await store.user_id(args.user)
            if uid is None:
                from service.errors import NotFound

                raise NotFound(f"no user {args.user}")
            if action == "grant":
                await store.grant(args.namespace, uid, args.role)
                print(f"{args.user} is {args.role} of {args.namespace}")
            else:
                await store.revoke_role(args.namespace, uid)
                print(f"{args.user} has no role in {args.namespace}")
        else:
            for ns in await store.list_namespaces():
                print(ns)

    return _with_store(args, run)


def cmd_keys(args: argparse.Namespace) -> int:
    from service.tokens.keys import KeyRing

    entry = KeyRing.generate_entry(args.kid, args.state)
    print(json.dumps(entry))
    return 0


def cmd_token_inspect(args: argparse.Namespace) -> int:
    from service.tokens import encoding
    from service.tokens.errors import TokenError

    text = args.token.strip()
    if text == "-":
        text = sys.stdin.read().strip()
    try:
        fmt, m = encoding.deserialize_any(text, max_length=1 << 20)
    except TokenError as e:
        print(f"error: not a token: {e.reason}", file=sys.stderr)
        return 1
    print(f"format: {fmt}")
    print(f"location: {m.location}")
    print(f"identifier: {m.identifier.decode('utf-8', 'backslashreplace')}")
    for c in m.caveats:
        cid = c.cid.decode("utf-8", "backslashreplace")
        if c.vid is None:
            print(f"caveat: {cid}")
        else:
            print(f"third-party caveat: {cid} (location {c.location})")
    print(f"signature: {m.signature.hex()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="token-service", description=__doc__)
    parser.add_argument("--config", help="a TOML config file (also TOKEN_SERVICE_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--config", default=argparse.SUPPRESS, help="a TOML config file")
    serve.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="manage users in the configured store")
    users_sub = users.add_subparsers(dest="users_action", required=True)
    add = users_sub.add_parser("add")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--password-stdin", action="store_true")
    passwd = users_sub.add_parser("passwd")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    remove = users_sub.add_parser("remove")
    remove.add_argument("name")
    users_sub.add_parser("list")
    users.set_defaults(func=cmd_users)

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

    keys = sub.add_parser("keys", help="signing keys")
    keys_sub = keys.add_subparsers(dest="keys_action", required=True)
    gen = keys_sub.add_parser("generate", help="print a new key entry for the keys file")
    gen.add_argument("--kid")
    gen.add_argument("--state", choices=["active", "verify", "retired"], default="active")
    keys.set_defaults(func=cmd_keys)

    token = sub.add_parser("token", help="tokens, offline")
    token_sub = token.add_subparsers(dest="token_action", required=True)
    inspect = token_sub.add_parser("inspect", help="print a V1, V2 or Onezone token's parts")
    inspect.add_argument("token", help="the token, or - to read it from standard input")
    token.set_defaults(func=cmd_token_inspect)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
