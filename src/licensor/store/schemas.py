"""JSON shapes of the store's API (Pydantic), kept apart from the tables: the partner API,
and the enrollment of an app downloaded from My Account.

Codes leave the server masked only (``XXXXX-XXXXX-XXXXX-7Q2ZC``): the partner holds them in
clear in its allocation file, and a leaked response or log must not hold a usable code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from licensor.licensing.schemas import CODE_SHAPE, DeviceIn
from licensor.store.orders import MAX_QUANTITY

CodeText = Annotated[
    str, Field(max_length=64, examples=["6JPET-26GV0-A08J5-BT3ZX"], json_schema_extra=CODE_SHAPE)
]


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Mario Rossi"])
    email: str = Field(min_length=3, max_length=320, examples=["mario.rossi@example.com"])


class PartnerSaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(
        min_length=1,
        max_length=60,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Your own order number. Unique among your orders (case, spaces and "
        "dashes aside); the customer quotes it when asking you for a lost code.",
        examples=["WEB-100234"],
    )
    purchased_at: AwareDatetime = Field(
        description="When the customer bought, ISO 8601 with a time zone.",
        examples=["2025-03-14T16:05:00Z"],
    )
    customer: CustomerIn
    codes: list[CodeText] = Field(
        min_length=1,
        max_length=MAX_QUANTITY,
        description="The activation codes sold, from your allocation; each at most once.",
    )


class CustomerOut(BaseModel):
    name: str
    email: str


class PartnerOrderOut(BaseModel):
    number: str
    purchased_at: datetime
    channel: str = Field(examples=["partner"])
    codes: list[str] = Field(
        description="The order's codes, masked: only the last group is shown.",
        examples=[["XXXXX-XXXXX-XXXXX-BT3ZX"]],
    )
    customer: CustomerOut


class AllocationOut(BaseModel):
    batch_id: int
    plan: str = Field(examples=["plus"])
    plan_name: str
    label: str
    count: int = Field(description="Codes in the allocation.")
    sold: int = Field(description="Codes of it recorded in your orders.")
    created_at: datetime


class AllocationsOut(BaseModel):
    allocations: list[AllocationOut]


class EnrollmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=100)
    device: DeviceIn
