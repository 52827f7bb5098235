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
    """Whether a text in ``value`` holds U+0000; a walk with a stack of its own, so that
    a deeply nested body is looked through too (the models then refuse its depth)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False
