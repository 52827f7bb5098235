"""The operator's own regions, technicians and OLTs, imported from a CSV or TOML file
(operations). ``workorders import`` sends its files here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field

from api.deps import ImportsDep, RegionsDep
from api.errors import FieldError, Problem, ProblemError
from api.openapi import refusals
from api.security import Operations
from workorders.importing import (
    ImportKind,
    InvalidFile,
    Plan,
    RowError,
    format_of,
    read_rows,
    validate,
)
from workorders.store import LinesInUse, RegionInUse

router = APIRouter(prefix="/imports", tags=["operations"])

MEDIA_TYPES = ("text/csv", "application/toml")


class FieldChange(BaseModel):
    field: str
    before: Any
    after: Any


class RowChange(BaseModel):
    id: str
    changes: list[FieldChange]


class ImportReport(BaseModel):
    """What an import changed, or (``dry_run``) would change."""

    kind: ImportKind
    dry_run: bool
    added: list[str] = Field(description="Ids of the rows added.")
    changed: list[RowChange] = Field(description="Rows changed, field by field.")
    removed: list[str] = Field(description="Ids of the regions or OLTs removed.")
    unchanged: list[str] = Field(description="Ids of the rows that were as the file has them.")


def _report(plan: Plan, *, dry_run: bool) -> ImportReport:
    return ImportReport(
        kind=plan.kind,
        dry_run=dry_run,
        added=plan.added,
        changed=[
            RowChange(
                id=c.id,
                changes=[FieldChange(field=f, before=b, after=a) for f, (b, a) in c.fields.items()],
            )
            for c in plan.changed
        ],
        removed=plan.removed,
        unchanged=plan.unchanged,
    )


def _refused(title: str, errors: list[RowError]) -> ProblemError:
    """A refused file: nothing changed; ``errors`` names each line (0: the file) and field."""
    return ProblemError(
        422,
        title,
        "; ".join(str(e) for e in errors[:5]) + (" …" if len(errors) > 5 else ""),
        code="IMPORT_REFUSED",
        errors=[
            FieldError(location=[e.line, e.field] if e.field else [e.line], message=e.message)
            for e in errors
        ],
    )


@router.post(
    "/{kind}",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {m: {"schema": {"type": "string"}} for m in MEDIA_TYPES},
        }
    },
    responses={
        415: {"model": Problem, "description": "Neither CSV nor TOML."},
        422: {
            "model": Problem,
            "description": "A row is invalid, a region would cover what another"
            " covers, a region in use would be removed, or an OLT change would lose"
            " lines it carries; nothing was changed.",
            **refusals("IMPORT_REFUSED"),
        },
    },
)
async def import_file(
    kind: ImportKind,
    request: Request,
    imports: ImportsDep,
    regions: RegionsDep,
    _: Operations,
    content_type: Annotated[str, Header()] = "",
    dry_run: Annotated[bool, Query(description="Say what would change; change nothing.")] = False,
) -> ImportReport:
    """Regions, technicians or OLTs from a CSV (``text/csv``) or TOML
    (``application/toml``) file: all of it or, when one row is wrong, nothing; a row
    the database has as the file has it is left alone, so the same file twice changes
    nothing. Imported regions place the next order's address at once, in every
    process within a second."""
    try:
        fmt = format_of(content_type)
    except InvalidFile:
        raise ProblemError(
            415, "Unsupported file", f"send {' or '.join(MEDIA_TYPES)}", code="UNSUPPORTED_FILE"
        ) from None
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        raise _refused(
            "Invalid file", [RowError(line, None, "the file is not UTF-8 text")]
        ) from None
    try:
        rows = read_rows(kind, fmt, text)
        valid = validate(kind, rows, regions={r.code for r in regions})
    except InvalidFile as e:
        raise _refused("Invalid file", e.errors) from None
    lines = [line for line, _ in rows]
    try:
        plan = await imports.apply(kind, list(zip(lines, valid, strict=True)), dry_run=dry_run)
    except InvalidFile as e:
        raise _refused("Invalid file", e.errors) from None
    except LinesInUse as e:
        raise _refused("Lines in use", e.errors) from None
    except RegionInUse as e:
        raise _refused("Region in use", e.errors) from None
    return _report(plan, dry_run=dry_run)
