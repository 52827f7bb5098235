"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import StoreDep, TemporalDep
from api.errors import ProblemError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    database: str
    temporal: str


@router.get("/healthz", response_model=Health)
async def health(store: StoreDep, temporal: TemporalDep) -> Health:
    """Ready when the database and the Temporal server both answer."""
    try:
        async with store.db.session() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        await temporal.service_client.check_health()
    except Exception as e:
        raise ProblemError(503, "Not ready", f"{type(e).__name__}: {e}") from None
    return Health(database="ok", temporal="ok")
