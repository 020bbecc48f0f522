"""How an agency numbers its apology documents: `[apology] number_format` ({seq}, {year}, {agency_code})."""

from __future__ import annotations

import string

NUMBER_FIELDS = frozenset({"seq", "year", "agency_code"})


def check_number_format(fmt: str) -> str:
    """`[apology] number_format`: fields {seq}, {year}, {agency_code}; {seq} is required."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None}
    except ValueError as exc:
        raise ValueError(f"apology.number_format: value '{fmt}': {exc}") from exc
    unknown = fields - NUMBER_FIELDS
    if unknown:
        raise ValueError(
            f"apology.number_format: value '{fmt}': unknown field(s) {sorted(unknown)}; "
            f"use {sorted(NUMBER_FIELDS)}"
        )
    if "seq" not in fields:
        raise ValueError(f"apology.number_format: value '{fmt}': must contain {{seq}}")
    try:
        sample = fmt.format(seq=15, year=2026, agency_code="000.00.30.H26")
    except (ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"apology.number_format: value '{fmt}': {exc}") from exc
    if len(sample) > 64:
        raise ValueError(f"apology.number_format: value '{fmt}': numbers longer than 64 characters")
    return fmt
