"""Temporal payloads encrypted with AES-256-GCM, so customer data never lies in plain
text in Temporal's history, its visibility store or the answers of its API.

Every payload the worker and the API send to Temporal (workflow and activity inputs and
results, query results, update and signal arguments) is serialized whole (its own
metadata included) and encrypted with the current key ``WORKORDERS_PAYLOAD_KEY``, under
a random 96-bit nonce of its own; the encrypted payload says ``encoding:
binary/encrypted`` and which key encrypted it (:func:`key_id`). Decoding takes the key
by that id: the current key or one of ``WORKORDERS_PAYLOAD_OLD_KEYS`` (a key change
leaves the old key there until no history needs it). A payload that is not encrypted
(histories recorded before encryption, workflows started before it) passes unchanged.

The SDK encrypts the static summary and details (user metadata) and query answers
too, the workflow's current details among them. It does not encrypt search attributes
(they are searched by value) nor error messages and stack traces (the failure
converter's default): those must hold no customer data.

Operators read encrypted payloads through the API's codec endpoint (``/codec``), which
the Temporal UI (``--ui-codec-endpoint``) and CLI (``--codec-endpoint``) call.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from workorders.config import Settings

ENCODING = b"binary/encrypted"
"""The ``encoding`` metadata of an encrypted payload."""
KEY_ID = "encryption-key-id"
"""The metadata naming the key that encrypted a payload."""
NONCE_BYTES = 12
KEY_BYTES = 32


class PayloadKeyError(ValueError):
    """A key in the settings is not base64 of 32 bytes."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be decrypted: its key is unknown, or it was altered."""


def parse_key(value: str | SecretStr, setting: str = "WORKORDERS_PAYLOAD_KEY") -> bytes:
    """The 32 bytes of an AES-256 key given in base64; ``setting`` names it in errors."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PayloadKeyError(
            f"{setting} is not valid base64; it must be 32 random bytes in base64"
            " (e.g. `openssl rand -base64 32`)"
        ) from None
    if len(key) != KEY_BYTES:
        raise PayloadKeyError(
            f"{setting} is {len(key)} bytes long; it must be {KEY_BYTES} random bytes in"
            " base64 (e.g. `openssl rand -base64 32`)"
        )
    return key


def key_id(key: bytes) -> str:
    """A key's public name: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


class EncryptionCodec(PayloadCodec):
    """Encrypts payloads with ``key``; decrypts those of ``key`` and ``old_keys``."""

    def __init__(self, key: bytes, old_keys: Iterable[bytes] = ()) -> None:
        for k in (key, *old_keys):
            if len(k) != KEY_BYTES:
                raise PayloadKeyError(f"an AES-256 key is {KEY_BYTES} bytes, not {len(k)}")
        self.key_id = key_id(key)
        self._encryptor = AESGCM(key)
        self._keys = {key_id(k): AESGCM(k) for k in old_keys}
        self._keys[self.key_id] = self._encryptor

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec:
        """The codec of ``payload_key`` and ``payload_old_keys``."""
        old = [
            parse_key(k, f"WORKORDERS_PAYLOAD_OLD_KEYS[{i}]")
            for i, k in enumerate(settings.payload_old_keys)
        ]
        return cls(parse_key(settings.payload_key), old)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """``payload``, metadata and all, encrypted with the current key."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._encryptor.encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """The payload that was encrypted; one that is not encrypted, unchanged."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        try:
            name = payload.metadata.get(KEY_ID, b"").decode()
            if not name:
                raise KeyError(KEY_ID)
        except (KeyError, UnicodeDecodeError):
            raise PayloadDecryptionError(
                f"the encrypted payload does not name its key ({KEY_ID} metadata)"
            ) from None
        aes = self._keys.get(name)
        if aes is None:
            raise PayloadDecryptionError(
                f"the payload was encrypted with key {name!r}, which is neither"
                f" WORKORDERS_PAYLOAD_KEY ({self.key_id}) nor one of"
                " WORKORDERS_PAYLOAD_OLD_KEYS"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            if len(nonce) < NONCE_BYTES:
                raise InvalidTag
            plain = aes.decrypt(nonce, sealed, name.encode())
        except InvalidTag:
            raise PayloadDecryptionError(
                f"the payload encrypted with key {name!r} does not decrypt: it was altered"
                " or is corrupt"
            ) from None
        decrypted = Payload()
        decrypted.ParseFromString(plain)
        return decrypted


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted with the settings' payload keys: the converter of
    every Temporal client, worker and replayer of the system."""
    return dataclasses.replace(
        pydantic_data_converter, payload_codec=EncryptionCodec.from_settings(settings)
    )
