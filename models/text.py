"""What every request's text must be, whatever the field: a text the database can
hold. PostgreSQL's ``text`` cannot hold U+0000 (SQLite can), and JSON can carry it
(``\\u0000``), so a request with one is refused before it reaches the database."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

NUL = "\x00"


def refuse_nul(data: Any) -> Any:
    """``data`` as given, unless a text in it (a key or a value, at any depth) holds
    U+0000.

    Raises:
        PydanticCustomError: ``nul_character``.
    """
    if _holds_nul(data):
        raise PydanticCustomError(
            "nul_character", "a text may not contain the NUL character (U+0000)"
        )
    return data


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False
