"""Tokens and the settings that guard them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from workorders.auth import (
    InvalidToken,
    Principal,
    Role,
    development_credentials,
    issue_token,
    read_token,
)
from workorders.config import Settings

SETTINGS = Settings(_env_file=None)


@pytest.mark.parametrize("role", list(Role))
def test_a_token_names_its_holder_and_role(role: Role) -> None:
    principal = read_token(SETTINGS, issue_token(SETTINGS, role, "li"))
    assert principal == Principal(subject="li", role=role)
    assert principal.actor == f"{role.value}:li"


def test_expired_and_foreign_tokens_are_refused() -> None:
    expired = issue_token(SETTINGS, Role.OPERATIONS, "li", ttl=timedelta(seconds=-5))
    with pytest.raises(InvalidToken, match="expired"):
        read_token(SETTINGS, expired)
    other = Settings(_env_file=None, auth_secret="another-secret-of-at-least-32-chars")
    with pytest.raises(InvalidToken, match="not valid"):
        read_token(SETTINGS, issue_token(other, Role.OPERATIONS, "li"))
    with pytest.raises(InvalidToken):
        read_token(SETTINGS, "garbage")


def test_a_remembered_token_expires_all_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue_token(SETTINGS, Role.TECHNICIAN, "tech-north-1", ttl=timedelta(minutes=5))
    assert read_token(SETTINGS, token).subject == "tech-north-1"  # verified, remembered
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        read_token(SETTINGS, token)
    other = Settings(_env_file=None, auth_secret="another-secret-of-at-least-32-chars")
    monkeypatch.undo()
    with pytest.raises(InvalidToken, match="not valid"):  # remembered for its secret only
        read_token(other, token)


def test_production_refuses_development_secrets() -> None:
    production = {"environment": "production", "database_url": "postgresql+psycopg://x/y"}
    with pytest.raises(ValueError, match="WORKORDERS_AUTH_SECRET"):
        Settings(_env_file=None, **production)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 32"):
        Settings(_env_file=None, auth_secret="short", **production)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="WORKORDERS_PAYLOAD_KEY"):
        Settings(_env_file=None, auth_secret="s" * 40, **production)  # type: ignore[arg-type]
    fine = Settings(
        _env_file=None,
        auth_secret="s" * 40,
        payload_key="a2V5LW9mLXRoaXJ0eS10d28tYnl0ZXMtZXhhY3RseSE=",
        **production,  # type: ignore[arg-type]
    )
    assert development_credentials(fine, ["tech-north-1"]) == []


def test_development_prints_a_working_token_for_each_party() -> None:
    lines = development_credentials(SETTINGS, ["tech-north-1"])
    tokens = {line.split()[1]: line.split()[2] for line in lines[1:]}
    assert set(tokens) == {"front-desk", "operations", "tech-north-1"}
    assert read_token(SETTINGS, tokens["tech-north-1"]).role is Role.TECHNICIAN
