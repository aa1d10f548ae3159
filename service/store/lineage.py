"""The foreign part of a token's lineage, checked in the other user's slot."""

from __future__ import annotations

from .keys import Keys
from .records import CheckResult, foreign_args
from .replies import decode_check_lineage
from .transport import Transport


async def foreign_holds(transport: Transport, keys: Keys, result: CheckResult) -> CheckResult:
    """`result`, refused when its foreign lineage (another user's slot) no longer holds.

    One more round trip, for the tokens an admin's token minted for a user
    (and their descendants) only.
    """
    if result.status != "ok" or result.foreign is None:
        return result
    fuid, fanc, fgen = foreign_args(result.foreign)
    reply = await transport.script(
        "check_lineage",
        keys=[keys.user(fuid), keys.temporary_generation(fuid)],
        args=[keys.named_record(fuid, ""), fanc, fgen],
    )
    if decode_check_lineage(reply):
        return result
    return CheckResult("revoked", result.user_name, result.admin)
