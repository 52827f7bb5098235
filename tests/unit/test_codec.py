"""Temporal payloads encrypted with the settings' payload key."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload

from models.enums import ServiceType
from models.payloads import OrderPlan
from workorders.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadDecryptionError,
    PayloadKeyError,
    data_converter,
    key_id,
    parse_key,
)
from workorders.config import DEVELOPMENT_PAYLOAD_KEY, Settings

PHONE = "+86 138 0013 8000"
PLAN = OrderPlan(
    order_id="7c1e",
    region="north",
    service_type=ServiceType.FTTH,
    profile="FTTH_300_100",
    installation_limit=timedelta(hours=48),
    jeopardy_after=timedelta(hours=36),
    customer_name="Wang Xiaoming",
    customer_phone=PHONE,
    address="Jianguo Road 88, 10115 Springfield",
)


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def settings(key: str, *old: str) -> Settings:
    return Settings(
        _env_file=None, payload_key=SecretStr(key), payload_old_keys=[SecretStr(k) for k in old]
    )


def plain(text: str = PHONE) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_a_round_trip_gives_the_payload_back_and_holds_no_plain_text() -> None:
    codec = EncryptionCodec.from_settings(settings(new_key()))
    original = [plain(), plain("Jianguo Road")]
    encoded = await codec.encode(original)
    for payload in encoded:
        assert payload.metadata["encoding"] == ENCODING
        assert payload.metadata[KEY_ID] == codec.key_id.encode()
        assert b"json/plain" not in payload.SerializeToString()
    assert PHONE.encode() not in encoded[0].data
    assert b"Jianguo" not in encoded[1].data
    assert await codec.decode(encoded) == original


async def test_every_payload_has_a_nonce_of_its_own() -> None:
    codec = EncryptionCodec.from_settings(settings(new_key()))
    first, second = await codec.encode([plain(), plain()])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_the_data_converter_encrypts_pydantic_payloads() -> None:
    converter = data_converter(settings(new_key()))
    (payload,) = await converter.encode([PLAN])
    assert payload.metadata["encoding"] == ENCODING
    for secret in (PHONE, "Wang Xiaoming", "Jianguo"):
        assert secret.encode() not in payload.SerializeToString()
    assert await converter.decode([payload], [OrderPlan]) == [PLAN]


async def test_payloads_that_are_not_encrypted_pass_unchanged() -> None:
    """Histories recorded before encryption, and workflows started before it."""
    codec = EncryptionCodec.from_settings(settings(new_key()))
    unencrypted = [plain(), Payload(metadata={"encoding": b"binary/null"})]
    assert await codec.decode(unencrypted) == unencrypted
    # and the converter reads an old unencrypted plan, without the new fields
    old = Payload(
        metadata={"encoding": b"json/plain"},
        data=b'{"order_id": "7c1e", "region": "north", "service_type": "FTTH",'
        b' "profile": "FTTH_300_100", "installation_limit": "PT48H",'
        b' "jeopardy_after": "PT36H"}',
    )
    (read,) = await data_converter(settings(new_key())).decode([old], [OrderPlan])
    assert isinstance(read, OrderPlan)
    assert (read.customer_name, read.customer_phone, read.address) == ("", "", "")


async def test_old_keys_still_decrypt_after_a_key_change() -> None:
    before, after = new_key(), new_key()
    encoded = await EncryptionCodec.from_settings(settings(before)).encode([plain()])
    rotated = EncryptionCodec.from_settings(settings(after, before))
    assert await rotated.decode(encoded) == [plain()]
    (fresh,) = await rotated.encode([plain()])
    assert fresh.metadata[KEY_ID] == key_id(parse_key(after)).encode()


async def test_an_unknown_key_is_a_clear_error() -> None:
    encoded = await EncryptionCodec.from_settings(settings(new_key())).encode([plain()])
    other = EncryptionCodec.from_settings(settings(new_key()))
    with pytest.raises(PayloadDecryptionError, match="neither WORKORDERS_PAYLOAD_KEY"):
        await other.decode(encoded)


@pytest.mark.parametrize("part", ["data", "key id", "short", "no key id"])
async def test_an_altered_payload_does_not_decrypt(part: str) -> None:
    key, other = new_key(), new_key()
    codec = EncryptionCodec.from_settings(settings(key, other))
    (payload,) = await codec.encode([plain()])
    if part == "data":
        payload.data = payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    elif part == "key id":  # claims the other (known) key
        payload.metadata[KEY_ID] = key_id(parse_key(other)).encode()
    elif part == "short":
        payload.data = payload.data[:5]
    else:
        del payload.metadata[KEY_ID]
    with pytest.raises(PayloadDecryptionError, match=r"altered|does not name its key"):
        await codec.decode([payload])


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"too short").decode(), "9 bytes long"),
        (base64.b64encode(os.urandom(33)).decode(), "33 bytes long"),
        ("", "0 bytes long"),
    ],
)
def test_a_key_that_is_not_32_bytes_of_base64_is_refused(key: str, message: str) -> None:
    with pytest.raises(PayloadKeyError, match=f"WORKORDERS_PAYLOAD_KEY .*{message}"):
        data_converter(settings(key))
    with pytest.raises(PayloadKeyError, match=rf"WORKORDERS_PAYLOAD_OLD_KEYS\[1\] .*{message}"):
        EncryptionCodec.from_settings(settings(new_key(), new_key(), key))


def test_the_development_key_is_32_bytes_and_the_default() -> None:
    codec = EncryptionCodec.from_settings(Settings(_env_file=None))
    assert codec.key_id == key_id(parse_key(DEVELOPMENT_PAYLOAD_KEY))
