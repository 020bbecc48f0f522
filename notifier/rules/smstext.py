"""SMS text economics: which encoding a text needs, how many billed parts it takes, and folding
Vietnamese to không dấu so that it fits the cheaper GSM-7 encoding.

Any Vietnamese diacritic forces UCS-2, which cuts a single SMS from 160 to 70 characters; gateways bill
per part, so the counts here must match how handsets split messages.
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# GSM 03.38 default alphabet, in code-point order (0x00-0x7F); ESC (0x1B) is omitted because it is
# not a character but the switch to the extension table.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each costs an escape septet plus its own.
GSM7_EXTENDED: frozenset[str] = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]

# (units in a single message, units per part of a concatenated one); parts lose room to the UDH.
_LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SmsInfo:
    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int
    per_segment: int
    remaining: int  # units still free in the last segment


_GSM7_ALL = GSM7_BASIC | GSM7_EXTENDED
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def is_gsm7(text: str) -> bool:
    return _GSM7_ALL.issuperset(text)


def _cost(ch: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1  # astral characters (emoji) are a UTF-16 surrogate pair


def sms_info(text: str) -> SmsInfo:
    """Encoding, size and part count of ``text``; an empty text takes 0 segments.

    An escape sequence or a surrogate pair is never split between parts (handsets move it whole to the
    next part), so parts may carry one unit less than ``per_segment``.
    """
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    single, per_part = _LIMITS[encoding]
    if encoding == "GSM-7":
        doubles = sum(text.count(ch) for ch in GSM7_EXTENDED if ch in text)
    else:
        doubles = len(_ASTRAL.findall(text))
    units = len(text) + doubles
    if units <= single:
        return SmsInfo(encoding, units, 1 if units else 0, single, single - units)
    if doubles == 0:
        # Every character one unit, nothing to keep whole: parts fill exactly (every dispatched SMS is
        # measured, so the common case is counted, not walked).
        segments = -(-units // per_part)
        return SmsInfo(encoding, units, segments, per_part, per_part - (units - (segments - 1) * per_part))
    segments, used = _pack([_cost(ch, encoding) for ch in text], per_part)
    return SmsInfo(encoding, units, segments, per_part, per_part - used)


def _pack(costs: list[int], capacity: int) -> tuple[int, int]:
    """Greedy packing of indivisible items into parts: (number of parts, units used in the last one)."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
    return segments, used


def fits(text: str, max_segments: int) -> bool:
    return sms_info(text).segments <= max_segments


# -- không dấu ---------------------------------------------------------------------------------------------

_VIETNAMESE_BASES = {
    # base vowel (with its vowel mark, if any) -> the plain letter it folds to
    "a": "a", "ă": "a", "â": "a",
    "e": "e", "ê": "e",
    "i": "i",
    "o": "o", "ô": "o", "ơ": "o",
    "u": "u", "ư": "u",
    "y": "y",
}  # fmt: skip
# grave (huyền), acute (sắc), hook above (hỏi), tilde (ngã), dot below (nặng)
_TONE_MARKS = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")


def _vietnamese_folds() -> dict[str, str]:
    """Every Vietnamese letter that is not plain ASCII -> its ASCII letter (132 vowels + đ/Đ)."""
    folds = {"đ": "d", "Đ": "D"}
    for base, plain in _VIETNAMESE_BASES.items():
        for tone in _TONE_MARKS:
            for letter, target in ((base, plain), (base.upper(), plain.upper())):
                composed = unicodedata.normalize("NFC", letter + tone)
                if composed != target:
                    folds[composed] = target
    return folds


# Checked before the GSM table: é, è, à, ì, ò, ù are GSM-7 but are Vietnamese tones and must fold too,
# so that a message reads consistently without diacritics.
_VIETNAMESE_FOLDS = _vietnamese_folds()

_FALLBACKS = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032`´", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033«»", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u00a0\u2007\u202f\t", " "),
    **dict.fromkeys("\u2028\u2029", "\n"),
    "…": "...",
    "₫": "d",  # "1.500.000 ₫" reads naturally as "1.500.000 d"
    "•": "-",
    "·": ".",
    "×": "x",
}


def _fold_char(ch: str) -> str:
    if ch in _VIETNAMESE_FOLDS:
        return _VIETNAMESE_FOLDS[ch]
    if ch in GSM7_BASIC or ch in GSM7_EXTENDED:
        return ch
    if ch in _FALLBACKS:
        return _FALLBACKS[ch]
    category = unicodedata.category(ch)
    if category.startswith("M") or category == "Cf":
        # Stray combining marks and invisible format characters (zero-width space, joiners, soft
        # hyphen) carry no text of their own.
        return ""
    # Compatibility forms (full-width letters, ligatures, ç, ō ...) often have a plain GSM-7 spelling.
    plain = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if plain and is_gsm7(plain):
        return plain
    return "?"


def khong_dau(text: str) -> str:
    """Vietnamese text without diacritics, guaranteed to be GSM-7 ("Hồ sơ" -> "Ho so")."""
    # NFC first: text typed with decomposed tones (common on some keyboards) then folds like the rest.
    return "".join(_fold_char(ch) for ch in unicodedata.normalize("NFC", text))
