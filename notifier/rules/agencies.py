"""What kind of body an agency is, under the two-level local government (since 01/7/2025): a department of
the province or a commune-level people's committee (xã, phường, đặc khu). There is no district level."""

from __future__ import annotations

from enum import StrEnum


class AgencyLevel(StrEnum):
    PROVINCE = "province"  # a Sở or other province-level body
    COMMUNE = "commune"  # UBND xã, phường or đặc khu


def parse_level(value: str) -> AgencyLevel:
    """`value` as an AgencyLevel; a clear error naming the value otherwise."""
    try:
        return AgencyLevel(value.strip().lower())
    except ValueError:
        allowed = ", ".join(level.value for level in AgencyLevel)
        raise ValueError(f"agency level {value!r} is not one of: {allowed}") from None
