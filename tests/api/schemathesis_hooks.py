"""Schemathesis hooks of the probe (``schemathesis.toml``): a valid request may be
refused (400 or 422) only for what its operation names in ``x-refusals``."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def refused_only_for_what_the_document_cannot_say(ctx: Any, response: Any, case: Any) -> None:
    """``positive_data_acceptance`` lets a 400 or 422 through (schemathesis.toml);
    this lets through only those whose problem ``code``, or every field error's
    ``type``, the operation's answer of that status lists in ``x-refusals``: what
    depends on the database or on who asks, or what JSON Schema cannot say
    (api/openapi.py)."""
    meta = case.meta
    status = response.status_code
    if meta is None or not meta.generation.mode.is_positive or status not in (400, 422):
        return
    declared = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    # U+0000 is refused in every body (models/text.py), which JSON Schema cannot say
    allowed = set(declared.get("x-refusals", {})) | {"nul_character", "NUL_CHARACTER"}
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    code = problem.get("code")
    types = {error.get("type") for error in problem.get("errors") or [{}]}
    if "*" in allowed or code in allowed or types <= allowed:
        return
    raise AssertionError(
        f"A valid request was refused ({status}, code {code!r}); this operation may refuse"
        f" a valid request only with {sorted(allowed) or 'nothing'}: {response.text[:300]}"
    )
