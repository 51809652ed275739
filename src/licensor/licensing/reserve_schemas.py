"""JSON shapes of the reserve-code API (licensing/reserve_endpoints.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from licensor.licensing.schemas import CODE_SHAPE, LICENSE_KEY_SHAPE, ActivationOut


class ReserveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64, json_schema_extra=LICENSE_KEY_SHAPE)
    fingerprint: str = Field(
        min_length=1,
        max_length=128,
        description="This device's fingerprint: it must hold a live seat of the license.",
    )
    activation_code: str = Field(
        max_length=64, examples=["6JPET-26GV0-A08J5-BT3ZX"], json_schema_extra=CODE_SHAPE
    )


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    license_key: str = Field(max_length=64, json_schema_extra=LICENSE_KEY_SHAPE)
    fingerprint: str = Field(min_length=1, max_length=128)


class ReserveOut(BaseModel):
    """A license's reserve code."""

    code: str = Field(
        description="The reserve code masked but for its last group "
        "(`XXXXX-XXXXX-XXXXX-7KQ2M`): whoever reads the answer need not learn it."
    )
    plan: str
    reserved_at: datetime
    starts_at: datetime = Field(
        description="When the reserve code's term starts: the end the license's term had "
        "when the code was entered."
    )
    expires_at: datetime = Field(description="The license's end, the reserve's term counted.")
    withdrawable: bool = Field(description="Whether it can still be withdrawn (before it starts).")


class ReserveAddedOut(BaseModel):
    reserve: ReserveOut
    license: ActivationOut = Field(
        description="The license as the device sees it now, its file freshly signed "
        "(`expires_at` the extended end, `reserve_starts_at` the reserve's start)."
    )


class WithdrawOut(BaseModel):
    status: str = Field(description="Always `withdrawn`.")
    license: ActivationOut = Field(
        description="The license as the device sees it now: its term back to what it was."
    )
