"""Schemathesis hooks of the probe (``schemathesis.toml``): a valid request may be
refused (422) only for what its operation names in ``x-refusals``."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def refused_only_for_what_the_document_cannot_say(ctx: Any, response: Any, case: Any) -> None:
    """``positive_data_acceptance`` lets a 422 through (schemathesis.toml); this lets
    through only the 422s whose problem ``code``, or every field error's ``type``, the
    operation's 422 lists in ``x-refusals``: what depends on the database or on who
    asks, or what JSON Schema cannot say (api/openapi.py)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    declared = case.operation.definition.raw.get("responses", {}).get("422", {})
    allowed = declared.get("x-refusals", {})
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    code = problem.get("code")
    types = {error.get("type") for error in problem.get("errors") or [{}]}
    if code not in allowed and not types <= set(allowed):
        raise AssertionError(
            f"A valid request was refused (422, code {code!r}); this operation may refuse"
            f" a valid request only with {sorted(allowed) or 'nothing'}: {response.text[:300]}"
        )
