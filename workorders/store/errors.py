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
