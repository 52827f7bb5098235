"""Opaque cursors for keyset pages: the last item's ``(created_at, id)``."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from api.errors import ProblemError


def encode_cursor(created_at: datetime, item_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), item_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names.

    Raises:
        ProblemError: 400, the cursor is not one :func:`encode_cursor` made.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, item_id = json.loads(raw)
        instant = datetime.fromisoformat(created_at)
        if instant.tzinfo is None or not isinstance(item_id, str):
            raise ValueError(cursor)
        instant.astimezone(UTC)  # one past the calendar's end there is no cursor of ours
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        raise ProblemError(
            400, "Invalid cursor", "pass the next_cursor of an earlier page", code="BAD_CURSOR"
        ) from None
    return instant, item_id
