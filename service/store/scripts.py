"""Lua scripts from `lua/*.lua`, loaded once and called with EVALSHA.

redis-py's script objects fall back to SCRIPT LOAD on NOSCRIPT (e.g. after a
Redis restart or a failover), so callers never see it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript

# Scripts that limit get the shared GCRA helpers prepended; those that check
# a token's lineage, the lineage check.
_LIBRARIES = {
    "ratelimit": ("gcra",),
    "mint_named": ("gcra",),
    "mint_temporary": ("gcra", "lineage"),
    "mint_f5": ("gcra",),
    "mint_f5_user": ("gcra",),
    "unmint_f5": ("gcra",),
    "check_named": ("lineage",),
    "check_owner": ("lineage",),
    "check_lineage": ("lineage",),
}
NAMES = (
    "ratelimit",
    "mint_named",
    "mint_temporary",
    "mint_f5",
    "unmint_f5",
    "check_named",
    "check_owner",
    "check_lineage",
    "check_f5",
    "update_named",
    "delete_named",
    "bump_generation",
    "mint_f5_user",
    "app_create",
    "app_replace",
    "app_delete",
    "role_set",
    "remove_user",
)


def source(name: str) -> str:
    """The full text of a script, with the shared library when it needs it."""
    folder = resources.files("service.store").joinpath("lua")
    parts = [
        folder.joinpath(f"{lib}.lua").read_text(encoding="utf-8")
        for lib in _LIBRARIES.get(name, ())
    ]
    parts.append(folder.joinpath(f"{name}.lua").read_text(encoding="utf-8"))
    return "\n".join(parts)


class Scripts:
    """The registered scripts of one client, by name."""

    def __init__(self, client: Any) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(source(name)) for name in NAMES
        }

    def __getitem__(self, name: str) -> AsyncScript:
        return self._scripts[name]

    async def load(self, client: Any) -> None:
        """Load every script now, so that the first request does not pay for it."""
        for script in self._scripts.values():
            script.sha = await client.script_load(script.script)
