"""`token-service serve | users | namespaces | keys | token inspect`."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import getpass
import json
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from service import logs
from service import settings as settings_mod
from service.errors import ServiceError
from service.settings import Settings, SettingsError

if TYPE_CHECKING:
    from service.store import Store, User

log = logging.getLogger("service")

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _load_settings(args: argparse.Namespace) -> Settings:
    settings = settings_mod.load(getattr(args, "config", None))
    overrides = {}
    for key in ("host", "port", "workers"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[f"server__{key}"] = value
    if overrides:
        settings = settings.replace(**overrides)
        settings_mod.validate(settings)
    return settings


# serve -------------------------------------------------------------------


# A request sent just before SIGTERM may still be on its way into an idle
# keep-alive connection; closing those at once would drop it. So the old
# connections are served a little longer, each response closing its own.
MAX_LINGER = 1.0
# Connections the kernel may hold before they are accepted. aiohttp's 128 is
# overrun when hundreds of clients connect at once, and a dropped SYN costs
# the client a one-second retransmission.
LISTEN_BACKLOG = 1024
LINGER_POLL = 0.02


# The youngest generation is collected when the tracked objects allocated
# since the last collection outnumber those freed by this much. Under load that
# count is mostly requests still in flight, not garbage: at CPython 3.11's
# default of 700, 64 concurrent mints set off a collection every 70 requests
# or so, about 2 % of a mint's CPU (3-5 % of /user/client_tokens'), for
# nothing to free. At 10,000 collections are left to real garbage (cycles).
GC_GEN0_THRESHOLD = 10_000


def settle_heap() -> None:
    """Tune the collector once the app is built, before the first request."""
    # Everything built so far (modules, the app, the routes) lives as long as the
    # process: out of the collector's sight, full collections stay short and
    # do not show up as tail latency.
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


async def serve(settings: Settings, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then drain within `server.shutdown_grace` and close."""
    from aiohttp import web

    from service.app import create_app
    from service.appkeys import SHUTTING_DOWN

    grace = settings.server.shutdown_grace
    linger = min(MAX_LINGER, grace / 2)
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace - linger)
    await runner.setup()
    site = web.TCPSite(
        runner,
        settings.server.host,
        settings.server.port,
        reuse_port=reuse_port or None,
        backlog=LISTEN_BACKLOG,
    )
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise SettingsError(
            f"server.port: cannot listen on {settings.server.host}:{settings.server.port}: "
            f"{e.strerror}"
        ) from e

    settle_heap()
    log.info("process %d listening", os.getpid())

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()

    # Not ready from now on, and every response closes its connection.
    app[SHUTTING_DOWN][0] = True
    await site.stop()
    server = runner.server
    log.info("shutting down: listener closed, draining within %.1f s", grace)
    # aiohttp signals no "last connection closed": poll, for at most `linger`.
    for _ in range(math.ceil(linger / LINGER_POLL)):
        if server is None or not server.connections:
            break
        await asyncio.sleep(LINGER_POLL)
    # Closes idle connections, waits for handlers in progress (up to the rest of
    # the grace period), runs on_shutdown and on_cleanup: the store closes last.
    await runner.cleanup()
    log.info("stopped")


def _return_large_blocks_to_the_system() -> None:
    """Keep glibc from holding on to scrypt's 16 MiB buffers.

    Password checks run in worker threads; after the first large block is
    freed, glibc raises its mmap threshold and every thread arena keeps a
    16 MiB heap for good. A fixed threshold of 1 MiB returns them.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _run_worker(settings: Settings, reuse_port: bool) -> None:
    _return_large_blocks_to_the_system()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    logs.configure(settings.server.log_level)
    asyncio.run(serve(settings, reuse_port=reuse_port))


def _worker_main(settings: Settings) -> None:
    """A worker process of `serve --workers N`: its exit code says how it ended."""
    # multiprocessing prints a failing child's traceback as plain text: log it instead.
    logs.configure(settings.server.log_level)
    try:
        _run_worker(settings, reuse_port=True)
    except SettingsError as e:
        log.error("%s", e)
        sys.exit(2)
    except Exception:
        log.critical("worker failed", exc_info=True)
        sys.exit(1)


def warn_if_keys_file_is_open(settings: Settings) -> None:
    """A WARNING when `keys.file` can be read (or written) by its group or by others."""
    path = settings.keys.file
    if not path:
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # loading the keys reports it, naming the setting
    if mode & 0o077:
        log.warning(
            "keys.file %s is open to its group or others (mode %03o): anyone who can read it "
            "can mint tokens; make it readable by this service's user only (chmod 600)",
            path,
            mode & 0o777,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    # Every line of the service's output is JSON, a bad setting at start included.
    logs.configure("info")
    try:
        settings = _load_settings(args)
        logs.configure(settings.server.log_level)
        return _serve(settings)
    except SettingsError as e:
        log.error("%s", e)
        return 2


def _serve(settings: Settings) -> int:
    warn_if_keys_file_is_open(settings)
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
    return _serve_workers(settings)


def _metrics_dir() -> tuple[Path, bool]:
    """Where the workers write their metrics, without an earlier run's files; True if made here."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        made = tempfile.mkdtemp(prefix="token-service-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
        return Path(made), True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    # Files of dead processes would be summed into /metrics (or break it): start clean.
    for stale in path.glob("*.db"):
        stale.unlink()
    return path, False


def _serve_workers(settings: Settings) -> int:
    """Run N workers on one port (SO_REUSEPORT); forward signals; stop all if one dies."""
    from prometheus_client import multiprocess

    # Each worker writes its metrics here; /metrics in any worker sums them.
    metrics_dir, made = _metrics_dir()
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(settings,), name=f"worker-{i}")
        for i in range(settings.server.workers)
    ]
    for p in procs:
        p.start()
    stopping = False

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    try:
        running = list(procs)
        while running:
            multiprocessing.connection.wait([p.sentinel for p in running])
            for p in [p for p in running if p.exitcode is not None]:
                running.remove(p)
                if p.pid is not None:
                    multiprocess.mark_process_dead(p.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
                if p.exitcode:
                    code = max(code, p.exitcode if p.exitcode > 0 else 1)
                if not stopping:
                    # Half a service behind a passing readiness probe is worse than a restart.
                    log.error(
                        "%s (pid %s) exited with %s: stopping the others", p.name, p.pid, p.exitcode
                    )
                    code = code or 1
                    forward(signal.SIGTERM, None)
    finally:
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return code


# store commands ----------------------------------------------------------


def _with_store(
    args: argparse.Namespace,
    fn: Callable[[Any], Awaitable[None]],
    settings: Settings | None = None,
) -> int:
    from service.store import Store, passwords

    if settings is None:
        settings = _load_settings(args)
    passwords.configure(settings.scrypt)
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


async def _user(store: Store, name: str) -> User:
    """The user of this name; NotFound (exit status 1) when there is none."""
    from service.errors import NotFound

    user = await store.users.get_by_name(name)
    if user is None:
        raise NotFound(f"no user {name}")
    return user


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
    action = args.users_action
    if action == "tokens":

        async def tokens(store: Store) -> None:
            user = await _user(store, args.name)
            listed = await _named_tokens(store, user.id)
            generation = await store.temporary.generation(user.id)
            if args.json:
                print(json.dumps({"tokens": listed, "temporaryGeneration": generation}))
            else:
                print(format_token_table(listed, generation))

        return _with_store(args, tokens)
    if action == "revoke-tokens":
        settings = _load_settings(args)

        async def revoke_tokens(store: Store) -> None:
            user = await _user(store, args.name)
            deleted = await store.named.delete_all(user.id)
            # The generation must outlive every temporary token: the service's own TTL.
            ttl = settings.onezone.max_temporary_token_ttl
            generation = await store.temporary.revoke(user.id, ttl)
            print(
                f"deleted {deleted} named token(s) of {user.name}; "
                f"their temporary tokens are revoked (generation {generation})"
            )

        return _with_store(args, revoke_tokens, settings)
    if action == "add":
        password = _read_password(args)

        async def add(store: Any) -> None:
            user = await store.users.create(args.name, password, admin=args.admin)
            print(f"added {user.name} ({user.id}){' admin' if user.admin else ''}")

        return _with_store(args, add)
    if action == "passwd":
        password = _read_password(args)

        async def passwd(store: Any) -> None:
            await store.users.set_password(args.name, password)
            print(f"password of {args.name} changed")

        return _with_store(args, passwd)
    if action == "remove":

        async def remove(store: Any) -> None:
            await store.users.remove(args.name)
            print(f"removed {args.name}; their tokens no longer verify")

        return _with_store(args, remove)

    async def list_users(store: Any) -> None:
        for user in await store.users.all():
            print(f"{user.name}\t{user.id}\t{'admin' if user.admin else 'user'}")

    return _with_store(args, list_users)


def cmd_namespaces(args: argparse.Namespace) -> int:
    action = args.ns_action

    async def run(store: Any) -> None:
        if action == "add":
            await store.namespaces.create(args.name)
            print(f"added namespace {args.name}")
        elif action == "remove":
            await store.namespaces.delete(args.name)
            print(f"removed namespace {args.name} with its applications")
        elif action in {"grant", "revoke"}:
            uid = (await _user(store, args.user)).id
            if action == "grant":
                await store.namespaces.grant(args.namespace, uid, args.role)
                print(f"{args.user} is {args.role} of {args.namespace}")
            else:
                await store.namespaces.revoke_role(args.namespace, uid)
                print(f"{args.user} has no role in {args.namespace}")
        else:
            for ns in await store.namespaces.names():
                print(ns)

    return _with_store(args, run)


def cmd_keys(args: argparse.Namespace) -> int:
    from service.tokens.keys import KeyRing

    entry = KeyRing.generate_entry(args.kid, args.state)
    print(json.dumps(entry))
    return 0


def cmd_token_inspect(args: argparse.Namespace) -> int:
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
    inspect = token_sub.add_parser(
        "inspect",
        help="print the parts of one of this service's tokens, in any encoding (offline)",
    )
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
