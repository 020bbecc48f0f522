"""Cells of exported spreadsheets (CSV, xlsx) that a spreadsheet program must show as text.

A cell starting with = + - @ (or a tab or carriage return before one) is run as a formula by Excel and
LibreOffice: an agency name or an error text sent as `=HYPERLINK("http://…")` would become a link (or
worse, DDE) in an officer's export. Such cells get a leading apostrophe, the usual way (OWASP "CSV
Injection") to say "text", which the spreadsheet does not display.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value, with text that would start a formula turned into plain text; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
