"""The bodies of the API's POST routes, as pydantic models: OpenAPI documents them, and the fuzzer sends them.

Imports (`{"data": [...]}`) take each item as it came and leave validating it to the import, which reports a
bad item with its row, field, value and reason and still stores the good ones; the schema shows the
portal's item model all the same. The officers' actions accept the portal's field names beside ours.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from notifier.rules.portal import PortalDossier, storable_text
from notifier.workflows.officer_import import OfficerRow
from notifier.workflows.steps import ProgressItem


class DocumentedAs:
    """Any JSON value passes; the schema is `model`'s. For import items, validated one by one later."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.any_schema()

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The model's own schema, its nested models registered in components like any other.
        return handler(self.model.__pydantic_core_schema__)


class Batch(BaseModel):
    """`{"data": [...]}` as the portal sends it; a bare list is read as its `data`."""

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return {"data": value} if isinstance(value, list) else value


class DossierBatch(Batch):
    """Dossiers in (`DongBoHoSoMC`): upserted by MaHoSo."""

    data: list[Annotated[Any, DocumentedAs(PortalDossier)]]


class ProgressBatch(Batch):
    """Inter-agency progress items (`CapNhatTienDoHoSoMC`)."""

    data: list[Annotated[Any, DocumentedAs(ProgressItem)]]


class OfficerBatch(Batch):
    """Agencies and officers: upserted by MaCanBo."""

    data: list[Annotated[Any, DocumentedAs(OfficerRow)]]


def _code_text(value: Any) -> Any:
    # Officer codes are text; a sender (or a CSV converted to JSON) may give a numeric one.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


OfficerCode = Annotated[str | None, BeforeValidator(_code_text)]


class OfficerNamed(BaseModel):
    """The acting officer, when the caller names one: the dossier must be theirs or their agency's."""

    model_config = ConfigDict(extra="ignore")

    officer: OfficerCode = Field(None, description="the acting officer's code (MaCanBo)")
    MaCanBo: OfficerCode = Field(None, description="the portal's name for `officer`")

    # Every text field of the officers' actions (here and in the subclasses): a NUL was a 500 on PostgreSQL.
    _storable = field_validator("*", mode="before")(storable_text)

    @property
    def officer_code(self) -> str | None:
        return self.officer or self.MaCanBo


class ApologyBody(OfficerNamed):
    """A new appointment date and the reason for the delay, printed on Mẫu 04."""

    new_due: str | None = Field(
        None,
        description="the new appointment: 15/12/2026, 15/12/2026 16:30, 2026-12-15, 2026-12-15T16:30 or "
        "20261215163000; a bare date is the end of that working day",
        examples=["15/12/2026"],
    )
    NgayHenTraMoi: str | None = Field(None, description="the portal's name for `new_due`")
    reason: str | None = Field(
        None, description="the reason for the delay", examples=["Chờ ý kiến cơ quan phối hợp"]
    )
    LyDoTreHan: str | None = Field(None, description="the portal's name for `reason`")

    # Our name wins when both are sent, even as null (a null date is then refused as missing).
    @property
    def due(self) -> str | None:
        return self.new_due if "new_due" in self.model_fields_set else self.NgayHenTraMoi

    @property
    def delay_reason(self) -> str | None:
        return self.reason if "reason" in self.model_fields_set else self.LyDoTreHan


class ResolveBody(OfficerNamed):
    """Optional: who marks the dossier resolved and a note kept on the status event."""

    note: str | None = Field(None, description="kept on the status event", examples=["Đã ký"])


class AnswerBody(BaseModel):
    """An officer's answer to a citizen's feedback, sent to the citizen's chat."""

    model_config = ConfigDict(extra="ignore")

    answer: str = Field(description="the answer, at most 3000 characters")
    answered_by: str | None = Field(None, max_length=100, description="the answering officer's code or name")

    _storable = field_validator("*", mode="before")(storable_text)  # a NUL was a 500 on PostgreSQL

    @field_validator("answered_by", mode="before")
    @classmethod
    def _who(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 100):
            raise ValueError("expected an officer code or name")
        return value
