"""Temporal's remote codec protocol, for operations: the Temporal UI
(``--ui-codec-endpoint``, or its "Codec Server" setting) and CLI (``--codec-endpoint``)
send the encrypted payloads they show to ``POST /codec/decode`` and get them back in
plain text (:mod:`workorders.codec`).

Bodies are the protobuf JSON form of ``temporal.api.common.v1.Payloads``: metadata
values and data in base64.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payloads

from api.deps import SettingsDep
from api.errors import ProblemError
from api.security import CodecAccess
from workorders.codec import EncryptionCodec, PayloadDecryptionError

router = APIRouter(prefix="/codec", tags=["operations"], dependencies=[CodecAccess])

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


class PayloadJson(BaseModel):
    """One ``temporal.api.common.v1.Payload`` in protobuf JSON."""

    model_config = ConfigDict(extra="allow")

    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="Metadata values in base64, e.g. `encoding`.",
        examples=[{"encoding": "anNvbi9wbGFpbg=="}],
    )
    data: str = Field(
        default="", description="The payload's bytes in base64.", examples=["eyJhIjogMX0="]
    )


class PayloadsJson(BaseModel):
    """``temporal.api.common.v1.Payloads`` in protobuf JSON."""

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
