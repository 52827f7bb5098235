"""What the stores raise when the database cannot do what was asked."""

from __future__ import annotations


class OrderNotFound(LookupError):
    """No work order has that id (or the order has no such sub-task yet)."""


class ResourceTaken(Exception):
    """Planned resources were taken by another order meanwhile: plan again."""


class TechnicianUnavailable(Exception):
    """The technician cannot take the job; the message says why."""


class TechnicianExists(Exception):
    """A technician with that id exists already."""


class JobChanged(Exception):
    """The construction job changed since the version a decision was made on."""

    def __init__(self, order_id: str, expected: int, found: int) -> None:
        super().__init__(
            f"the construction job of {order_id} changed (version {found}, not {expected});"
            " decide again on the job as it stands"
        )
        self.order_id = order_id
        self.expected = expected
        self.found = found


class SlotTaken(Exception):
    """Nobody is free in the installation slot asked for (any more)."""


class NotBookable(Exception):
    """The order cannot be booked now; the message says why."""
