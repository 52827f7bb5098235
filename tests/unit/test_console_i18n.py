"""The console's two languages: the same words, and the browser's choice."""

from __future__ import annotations

import json
import string

import pytest
from pydantic import ValidationError

from api.console import i18n
from api.console.board import EDITS
from api.console.visits import BOOKING_REFUSALS
from api.errors import ProblemError
from api.workflows import UPDATE_ERRORS
from models.api import OrderCreateRequest
from models.enums import JobState, OrderStatus, SubTaskStatus


def test_both_languages_have_every_word() -> None:
    assert set(i18n.MESSAGES["en"]) == set(i18n.MESSAGES["zh-CN"])


@pytest.mark.parametrize(
    ("cookie", "accept", "language"),
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        (None, "zh-Hans", "zh-CN"),
        (None, "zh-TW,en;q=0.5", "en"),
        (None, "de-DE,en;q=0.5", "en"),
        (None, None, "en"),
        ("zh-CN", "en-US", "zh-CN"),
        ("klingon", "zh", "zh-CN"),
    ],
)
def test_the_cookie_then_the_browser_choose(
    cookie: str | None, accept: str | None, language: str
) -> None:
    assert i18n.choose(cookie, accept) == language


def _errors(language: str, body: dict[str, object]) -> dict[str, str]:
    try:
        OrderCreateRequest.model_validate_json(json.dumps(body))
    except ValidationError as e:
        return i18n.field_errors(language, e)
    raise AssertionError("valid")


ORDER: dict[str, object] = {
    "external_reference": "",
    "customer": {"name": "张伟", "phone": "x"},
    "address": {"country": "CN", "postcode": "1000"},
    "demand": {"service_type": "FTTH", "download_mbps": "lots", "upload_mbps": 100},
}


def test_validation_errors_speak_chinese_with_their_limits() -> None:
    errors = _errors("zh-CN", ORDER)

    assert errors["external_reference"] == "至少 1 个字符"
    assert errors["customer.phone"] == "格式不对"
    assert errors["address.district"] == "CN 地址必填"
    assert errors["address.postcode"] == "CN 邮编格式为 ^[0-9]{6}$，例如 100080"  # noqa: RUF001
    assert errors["demand.download_mbps"] == "应为整数"


def test_english_is_the_apis_own_text_and_an_unknown_type_falls_back_to_it() -> None:
    english = _errors("en", ORDER)
    assert english["address.postcode"] == "a CN postcode matches ^[0-9]{6}$, e.g. 100080"
    assert english["address.district"] == "required in a CN address"
    error = {"type": "no_such_type", "loc": ("x",), "msg": "as pydantic says", "input": 1}
    assert i18n.field_error("zh-CN", error) == "as pydantic says"  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", sorted(i18n.FIELD_ERRORS["zh-CN"]))
def test_every_chinese_error_template_names_only_context_it_has(kind: str) -> None:
    """A template naming context its error lacks falls back to English: it must not."""
    template = i18n.FIELD_ERRORS["zh-CN"][kind]
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    assert names <= CONTEXT.get(kind, set()), kind


CONTEXT = {
    "string_too_short": {"min_length"},
    "string_too_long": {"max_length"},
    "greater_than": {"gt"},
    "greater_than_equal": {"ge"},
    "less_than": {"lt"},
    "less_than_equal": {"le"},
    "too_short": {"min_length"},
    "too_long": {"max_length"},
    "literal_error": {"expected"},
    "enum": {"expected"},
    "value_error": {"reason"},
    "country_not_served": {"country"},
    "address_field_required": {"country"},
    "address_field_foreign": {"country", "fields"},
    "postcode_format": {"country", "pattern", "example"},
    "action_needs": {"action", "field"},
    "bandwidth_not_offered": {"service", "download", "upload"},
}


REFUSED_ON_FORMS = {
    *UPDATE_ERRORS,
    "TECHNICIAN_NOT_NAMED",
    "UNKNOWN_TECHNICIAN",
    "UNKNOWN_REGION",
    "TECHNICIAN_EXISTS",
    *BOOKING_REFUSALS,
}
"""The codes of the refusals the console's forms show: the workflow's and the store's
(:data:`api.workflows.UPDATE_ERRORS`), and those of api.decisions and api.staffing."""


@pytest.mark.parametrize("code", sorted(REFUSED_ON_FORMS))
def test_a_refusal_is_said_in_the_readers_language(code: str) -> None:
    problem = ProblemError(409, "Some title", "tech-north-1 is fully booked", code=code)
    chinese = i18n.refusal("zh-CN", problem)
    assert chinese == i18n.MESSAGES["zh-CN"][f"refusal.{code}"]
    assert not any(c in string.ascii_letters for c in chinese), chinese  # no English left
    english = i18n.refusal("en", problem)
    assert english == f"{i18n.MESSAGES['en'][f'refusal.{code}']}: tech-north-1 is fully booked"


def test_a_refusal_without_a_known_code_is_still_said() -> None:
    problem = ProblemError(409, "Slot taken", "the slot went to another order")
    assert i18n.refusal("zh-CN", problem) == i18n.MESSAGES["zh-CN"]["conflict"]
    assert i18n.refusal("en", problem) == "Slot taken: the slot went to another order"


def test_every_status_and_edited_field_has_its_words() -> None:
    words = i18n.MESSAGES["en"]
    assert {f"order.{s.value}" for s in OrderStatus} <= set(words)
    assert {f"task.{s.value}" for s in SubTaskStatus} <= set(words)
    assert {f"job.{s.value}" for s in JobState} <= set(words)
    edited = {name for model in EDITS.values() for name in model.model_fields}
    assert {f"field.{name}" for name in edited} <= set(words)
