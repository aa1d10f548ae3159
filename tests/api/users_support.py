"""Helpers shared by the tests of the admin routes (`/users/{id}/tokens/…`, every user's tokens)."""

from __future__ import annotations

from app_support import add_user, basic
from onezone_support import API, PASSWORD, Client, new_user


class People:
    """An admin, alice and bob, with their ids and Basic headers."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def setup(self) -> People:
        self.admin_id = await add_user(self.client, "root", PASSWORD, admin=True)
        self.admin = basic("root", PASSWORD)
        self.alice_id, self.alice = await new_user(self.client, "alice")
        self.bob_id, self.bob = await new_user(self.client, "bob")
        return self


def users(uid: str) -> str:
    """The prefix of user `uid`'s token routes."""
    return f"{API}/users/{uid}/tokens"


def as_token(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}
