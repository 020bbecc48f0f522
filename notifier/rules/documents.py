"""How an administrative document is laid out under Decree 30/2020/NĐ-CP: the date in words and the
signature block. Pure functions; the words of each document live in its template."""

from __future__ import annotations

from datetime import datetime

from notifier.rules.agencies import AgencyLevel
from notifier.rules.clock import VN_TZ

DEPUTY_PREFIX = "PHÓ "


def date_words(value: datetime) -> str:
    """ "ngày 05 tháng 3 năm 2027": the day padded below 10, the month padded only for January and
    February (so "tháng 01", "tháng 02", "tháng 3" ... "tháng 12"), as Decree 30/2020 writes dates."""
    local = value.astimezone(VN_TZ)
    month = f"{local.month:02d}" if local.month <= 2 else str(local.month)
    return f"ngày {local.day:02d} tháng {month} năm {local.year}"


def signer_lines(level: str, collective: str | None, title: str | None) -> list[str]:
    """The lines above the signature, in capitals.

    A department: "GIÁM ĐỐC"; a deputy signs for the head: "KT. GIÁM ĐỐC" over "PHÓ GIÁM ĐỐC". A commune's
    people's committee signs on behalf of the collective body: "TM. ỦY BAN NHÂN DÂN" over "CHỦ TỊCH" (and
    "KT. CHỦ TỊCH" / "PHÓ CHỦ TỊCH" for a deputy). No title: no lines (the template says so)."""
    if not title or not title.strip():
        return []
    title = " ".join(title.upper().split())
    lines: list[str] = []
    if level == AgencyLevel.COMMUNE and collective:
        lines.append("TM. " + " ".join(collective.upper().split()))
    if title.startswith(DEPUTY_PREFIX) and len(title) > len(DEPUTY_PREFIX):
        lines.append("KT. " + title[len(DEPUTY_PREFIX) :])
    lines.append(title)
    return lines


def issuer_header(name: str, parent: str | None) -> str:
    """The issuing body's own line, in capitals, under its parent's line (Decree 30/2020: the two lines
    together name the body). A commune's committee is often stored as "UBND phường Lê Chân" or "Ủy ban
    nhân dân phường Lê Chân"; under the line "ỦY BAN NHÂN DÂN" its own line is "PHƯỜNG LÊ CHÂN", never the
    committee's name a second time. Nor is the place the parent's line names: a department stored as
    "Sở Tư pháp thành phố Hải Phòng" is "SỞ TƯ PHÁP" under "UBND THÀNH PHỐ HẢI PHÒNG"."""
    header = " ".join(name.split()).upper()
    if parent:
        above = " ".join(parent.split()).upper()
        for prefix in (above + " ", "UBND " if above == "ỦY BAN NHÂN DÂN" else None):
            if prefix and header.startswith(prefix) and len(header) > len(prefix):
                return header[len(prefix) :]
        for committee in ("UBND ", "ỦY BAN NHÂN DÂN "):
            place = above[len(committee) :] if above.startswith(committee) else ""
            if place and header.endswith(" " + place) and len(header) > len(place) + 1:
                return header[: -len(place) - 1]
    return header
