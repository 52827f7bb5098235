"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import DatabaseDep, TemporalDep
from api.errors import ProblemError

router = APIRouter(tags=["health"])
log = logging.getLogger("workorders.api")


class Health(BaseModel):
    database: str
    temporal: str


@router.get("/healthz", response_model=Health)
async def health(db: DatabaseDep, temporal: TemporalDep) -> Health:
    """Ready when the database and the Temporal server both answer."""
    try:
        await db.run_on_connection(lambda connection: connection.execute(text("SELECT 1")))
    except Exception:
        log.warning("health: the database does not answer", exc_info=True)
        raise ProblemError(503, "Not ready", "the work-order database does not answer") from None
    try:
        await temporal.service_client.check_health()
    except Exception:
        log.warning("health: Temporal does not answer", exc_info=True)
        raise ProblemError(503, "Not ready", "the Temporal server does not answer") from None
    return Health(database="ok", temporal="ok")
