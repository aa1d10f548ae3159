"""What the V1 and V2 readers share: a field that must be UTF-8 text."""

from __future__ import annotations

from service.tokens.errors import MalformedToken

__all__ = ["field_text"]


def field_text(value: bytes, what: str) -> str:
    """Decode a location field as UTF-8; MalformedToken naming `what` if it is not."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedToken(f"{what} is not UTF-8") from None
