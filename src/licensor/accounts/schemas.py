"""JSON shapes of the account API: linking a license (F4) and connecting a device (F10)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from licensor.licensing.schemas import LICENSE_KEY_SHAPE, ActivationOut


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    license_key: str = Field(max_length=64, json_schema_extra=LICENSE_KEY_SHAPE)
    fingerprint: str = Field(min_length=1, max_length=128)


class LinkOut(BaseModel):
    status: str = Field(description="linked, or already_linked")
    public_id: str
    plan: str
    licenses_url: str


MAX_PROOF_KEYS = 20


class DeviceAuthorizeIn(BaseModel):
    """An app asking to connect to an account by a short code (F10)."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_\-:.]+$")
    name: str = Field(default="", max_length=200)
    platform: str = Field(default="", max_length=100)
    license_keys: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_PROOF_KEYS,
        description="The license keys this device holds: its proof of possession. Only a "
        "license whose key is sent here and which has a live seat on this fingerprint joins "
        "the account when the code is entered; the fingerprint alone joins nothing (it is "
        "an identifier, not a secret). A key that does not prove anything is ignored "
        "without a word. An app that sends none still connects, and joins no license.",
    )


class DeviceAuthorizeOut(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_code: str = Field(max_length=100)


class DeviceTokenOut(BaseModel):
    status: str = Field(description="connected")
    account: str = Field(description="The account's email, partly hidden")
    licenses_linked: list[str] = Field(
        description="Public IDs of the licenses this device proved (``license_keys``) that "
        "are now in the account"
    )
    license: ActivationOut | None = Field(
        default=None,
        description="The license of the account's subscription, now active on this device "
        "(when the account has one and a seat is free)",
    )
