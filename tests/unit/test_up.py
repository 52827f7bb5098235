"""What ``workorders up`` tells the Temporal UI about the codec."""

from __future__ import annotations

import base64

from workorders.config import Settings
from workorders.up import ui_codec_endpoint, ui_codec_help


def test_the_ui_decodes_through_the_consoles_codec_in_development() -> None:
    settings = Settings(_env_file=None, api_host="127.0.0.1", api_port=8000)
    assert ui_codec_endpoint(settings) == "http://127.0.0.1:8000/console/codec"
    assert "http://127.0.0.1:8000/console/codec" in ui_codec_help(settings)
    assert "Include cross-origin credentials" in ui_codec_help(settings)


def test_outside_development_the_ui_is_given_the_token_only_codec() -> None:
    settings = Settings(
        _env_file=None,
        environment="production",
        database_url="sqlite:///unused.db",
        auth_secret="s" * 48,
        payload_key=base64.b64encode(b"k" * 32).decode(),
        api_host="127.0.0.1",
        api_port=8000,
    )
    assert ui_codec_endpoint(settings) == "http://127.0.0.1:8000/codec"
