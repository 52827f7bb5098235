"""The console's two languages: the same words, and the browser's choice."""

from __future__ import annotations

import pytest

from api.console import i18n


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
