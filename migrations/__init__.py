"""Alembic migrations of the work-order database (``env.py``, ``versions/``).

Shipped with the package, so that ``Database.migrate`` finds them in any install.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).resolve().parent
"""The Alembic script directory: this package's folder."""
