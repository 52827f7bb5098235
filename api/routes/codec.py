"""Temporal's remote codec protocol, for operations: the Temporal CLI and UI send the
encrypted payloads they show to ``POST .../decode`` and get them back in plain text
(:mod:`workorders.codec`). Bodies are the protobuf JSON form of
``temporal.api.common.v1.Payloads``: metadata values and data in base64.

Two doors, one codec:

- ``/codec``: an operations bearer token, in every environment. The CLI sends one:
  ``temporal workflow show --codec-endpoint {api}/codec --codec-auth "Bearer $OPS"``.
- ``/console/codec``: in development only, the Temporal UI of ``workorders up``, with the
  console's session of an operations user (:func:`api.console.session.require_codec_session`).

Why the console's session, and not the UI's ``Origin`` as before: any local client can
send any ``Origin`` header, so an Origin let anyone decrypt customer data. A browser
page cannot forge its Origin, but only a browser enforces that; what a client without
an operator's password cannot imitate is a session made by signing in. The console's
cookie is HttpOnly and SameSite=Lax; the UI (``http://127.0.0.1:8233``) and the API
(``http://127.0.0.1:8000``) are the same site (ports do not count), so the browser
sends the cookie on the UI's codec fetch when the UI includes credentials, and CORS
lets only the allowed origins read the answer (exact origin, with
``Access-Control-Allow-Credentials: true``, on this path only). The cookie's path is
``/console``, so this door lives under it; it answers problem documents, never pages.

The UI includes credentials only when told: ``temporal server start-dev`` sets the
UI's codec endpoint (``--ui-codec-endpoint``) but has no flag or config file for the
UI server's ``codec.includeCredentials``, so the operator turns it on in the UI's
"Codec Server" settings (kept in that browser): "use my browser setting", the endpoint
``{api}/console/codec``, "Include cross-origin credentials" (README, "Customer data is
encrypted in Temporal"; checked with CLI 1.9.1 and its UI 2.54.1, and shown in a real
browser by ``tests/browser/test_temporal_ui_codec.py``). Rejected: a secret in the
endpoint's URL, since the UI serves its settings (``/api/v1/settings``) to any local
client and the URL is on a process's command line; a token pasted into the UI, since
the UI passes only an OIDC login's access token.

Outside development ``/console/codec`` refuses every call and no path answers a
credentialed cross-origin call: there, only a bearer token decodes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payloads

from api.console.session import CONSOLE_CODEC, CodecSession
from api.deps import SettingsDep
from api.errors import ProblemError
from api.security import CodecAccess
from workorders.codec import EncryptionCodec, PayloadDecryptionError

router = APIRouter(prefix="/codec", tags=["operations"], dependencies=[CodecAccess])
console_router = APIRouter(
    prefix=CONSOLE_CODEC, dependencies=[CodecSession], include_in_schema=False
)
"""The same routes for the Temporal UI in development, with the console's session."""

PLAIN_EXAMPLE = {
    "payloads": [
        {
            "metadata": {"encoding": "anNvbi9wbGFpbg=="},
            "data": "eyJvcmRlcl9pZCI6ICI3YzFlIn0=",
        }
    ]
}
ENCRYPTED_EXAMPLE = {  # PLAIN_EXAMPLE encrypted with the development key
    "payloads": [
        {
            "metadata": {
                "encoding": "YmluYXJ5L2VuY3J5cHRlZA==",
                "encryption-key-id": "YjYxYTgxN2M5NTY2Mzk3MQ==",
            },
            "data": "VXZmEeHFVLeJW59Een+eWCycwiEblXo+CSMlSgneMJaiaIKHXpCpIBCNINnkCQnl1oJxg9G"
            "BB7CxtBngjhZt+1iBfA3wun2R5RY=",
        }
    ]
}


_B64 = "[A-Za-z0-9+/_-]"
BASE64 = rf"^(?:{_B64}{{4}})*(?:{_B64}{{2}}(?:==)?|{_B64}{{3}}=?)?$"
"""Bytes in protobuf JSON: base64, standard or URL-safe, padded or not (what protobuf's
parser takes; it also takes, and silently drops, characters that are none of these)."""
Base64 = Annotated[str, Field(pattern=BASE64)]


class PayloadJson(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON (inline: this system
    keeps no payload outside, so ``externalPayloads`` is refused with every other
    field)."""

    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Base64] = Field(
        default_factory=dict,
        description="Metadata values in base64, e.g. `encoding`.",
        examples=[{"encoding": "anNvbi9wbGFpbg=="}],
    )
    data: Base64 = Field(
        default="", description="The payload's bytes in base64.", examples=["eyJhIjogMX0="]
    )


class PayloadsJson(BaseModel):
    """``temporal.api.common.v1.Payloads`` in protobuf JSON."""

    model_config = ConfigDict(extra="forbid")

    payloads: list[PayloadJson] = Field(default_factory=list)


def _parse(body: PayloadsJson) -> Payloads:
    try:
        return json_format.ParseDict(body.model_dump(), Payloads())
    except (json_format.ParseError, ValueError, TypeError) as e:
        raise ProblemError(
            422,
            "Invalid request",
            f"not temporal.api.common.v1.Payloads in protobuf JSON: {e}",
            code="INVALID_PAYLOADS",
        ) from None


def _answer(payloads: Payloads) -> PayloadsJson:
    message: dict[str, Any] = json_format.MessageToDict(payloads)
    return PayloadsJson.model_validate(message)


def _codec(request: Request, settings: SettingsDep) -> EncryptionCodec:
    """The codec of the app's settings, made once per app."""
    codec: EncryptionCodec | None = getattr(request.app.state, "payload_codec", None)
    if codec is None:
        codec = EncryptionCodec.from_settings(settings)
        request.app.state.payload_codec = codec
    return codec


@router.post(
    "/encode",
    response_model=PayloadsJson,
    summary="Encrypt Temporal payloads (remote codec)",
    responses={200: {"content": {"application/json": {"example": ENCRYPTED_EXAMPLE}}}},
)
async def encode(
    request: Request,
    settings: SettingsDep,
    body: Annotated[PayloadsJson, Body(openapi_examples={"plain": {"value": PLAIN_EXAMPLE}})],
) -> PayloadsJson:
    """Encrypt payloads with the current payload key, as the worker does."""
    payloads = _parse(body)
    encoded = await _codec(request, settings).encode(list(payloads.payloads))
    return _answer(Payloads(payloads=encoded))


@router.post(
    "/decode",
    response_model=PayloadsJson,
    summary="Decrypt Temporal payloads (remote codec)",
    responses={
        200: {"content": {"application/json": {"example": PLAIN_EXAMPLE}}},
        422: {"description": "Not payloads, or a payload that does not decrypt."},
    },
)
async def decode(
    request: Request,
    settings: SettingsDep,
    body: Annotated[
        PayloadsJson, Body(openapi_examples={"encrypted": {"value": ENCRYPTED_EXAMPLE}})
    ],
) -> PayloadsJson:
    """Decrypt payloads encrypted with the current or an old payload key; payloads that
    are not encrypted come back unchanged."""
    payloads = _parse(body)
    try:
        decoded = await _codec(request, settings).decode(list(payloads.payloads))
    except PayloadDecryptionError as e:
        raise ProblemError(
            422, "Cannot decode payload", str(e), code="PAYLOAD_NOT_DECRYPTABLE"
        ) from None
    return _answer(Payloads(payloads=decoded))


for _path, _endpoint in (("/encode", encode), ("/decode", decode)):
    console_router.add_api_route(_path, _endpoint, methods=["POST"], response_model=PayloadsJson)
