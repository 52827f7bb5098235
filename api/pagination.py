"""Opaque cursors for keyset pages: the last item's ``(created_at, id)``.

A cursor is 24 bytes in unpadded URL-safe base64, so exactly the 32-character strings
of :data:`CURSOR_PATTERN`: the instant in microseconds since the Unix epoch (a signed
64-bit big-endian integer), then the id's 16 bytes (ids are UUIDs). Every string of the
pattern is a position, none needs refusing after the pattern: the document says all a
cursor must be, and a malformed one is an ordinary 422 at the query's ``cursor``. An
instant past either end of the calendar is a position before or after every order.
"""

from __future__ import annotations

import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta

CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST = datetime.min.replace(tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)
_LAYOUT = struct.Struct(">q16s")


def encode_cursor(created_at: datetime, item_id: str) -> str:
    micros = (created_at - EPOCH) // timedelta(microseconds=1)
    raw = _LAYOUT.pack(micros, uuid.UUID(item_id).bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor of :data:`CURSOR_PATTERN` names."""
    micros, item = _LAYOUT.unpack(base64.urlsafe_b64decode(cursor))
    try:
        instant = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        instant = FIRST if micros < 0 else LAST
    return instant, str(uuid.UUID(bytes=item))
