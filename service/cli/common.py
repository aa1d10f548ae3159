"""What the commands share: settings from the command line, a store to run against, users."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from service import settings as settings_mod
from service.errors import ServiceError
from service.settings import Settings

if TYPE_CHECKING:
    from service.store import Store, User


def load_settings(args: argparse.Namespace) -> Settings:
    """The settings, with `serve`'s --host, --port and --workers over them."""
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


def with_store(
    args: argparse.Namespace,
    fn: Callable[[Any], Awaitable[None]],
    settings: Settings | None = None,
) -> int:
    """Run `fn(store)` against the configured store; the command's exit status."""
    from service.store import Store, passwords

    if settings is None:
        settings = load_settings(args)
    passwords.configure(settings.scrypt)
    if settings.redis.embedded:
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


def read_password(args: argparse.Namespace) -> str:
    """A new password: one line of standard input, or asked twice at the terminal."""
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            raise SystemExit("error: passwords differ")
    if not password:
        raise SystemExit("error: empty password")
    return password


async def find_user(store: Store, name: str) -> User:
    """The user of this name; NotFound (exit status 1) when there is none."""
    from service.errors import NotFound

    user = await store.users.get_by_name(name)
    if user is None:
        raise NotFound(f"no user {name}")
    return user
