"""The custom search attributes of work-order workflows, for filtering in the Temporal
UI and CLI (e.g. every order waiting for operations in one region). ``workorders up``
and the production setup register them; the workflow keeps them current."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("WorkOrderStatus")
REGION = SearchAttributeKey.for_keyword("WorkOrderRegion")
SERVICE_TYPE = SearchAttributeKey.for_keyword("WorkOrderServiceType")
TECHNICIAN = SearchAttributeKey.for_keyword("WorkOrderTechnician")
WAITING_FOR = SearchAttributeKey.for_keyword_list("WorkOrderWaitingFor")
"""The sub-tasks that wait for operations."""

ALL = (ORDER_STATUS, REGION, SERVICE_TYPE, TECHNICIAN, WAITING_FOR)
INITIAL = (ORDER_STATUS, REGION, SERVICE_TYPE)
"""Those an order's workflow starts with (``api.workflows.initial_search_attributes``)."""


def cli_flags() -> list[str]:
    """``--search-attribute NAME=TYPE`` arguments for ``temporal server start-dev``."""
    kinds = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name]}"]
    return flags
