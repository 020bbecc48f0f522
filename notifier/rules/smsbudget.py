"""How an SMS channel spends its segment budget: fold to không dấu or not, and whether the text fits.

Pure functions over `notifier.rules.smstext`. A channel's `khong_dau` setting is one of:

- ``false``: always keep the diacritics (UCS-2, 70/67 characters a part);
- ``true``: always fold (GSM-7, 160/153), the cheapest and what many brandname contracts require;
- ``"auto"``: keep the diacritics while the text fits ``max_segments``, fold when it does not. Without a
  ``max_segments``, fold whenever folding saves a segment (diacritics only when they are free).

A text that is still over ``max_segments`` after folding is sent anyway: a citizen's apology or payment
request matters more than one extra part. It is flagged ``over_budget`` and the dispatcher logs it; the
segments are stored on every notification (``notifications.segments``) so cost can be reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from notifier.rules.smstext import Encoding, khong_dau, sms_info

KhongDau = bool | Literal["auto"]


@dataclass(frozen=True)
class SmsFit:
    text: str
    segments: int
    encoding: Encoding
    folded: bool  # the text was folded to không dấu
    over_budget: bool  # still more segments than allowed


def fit_sms(text: str, *, mode: KhongDau = False, max_segments: int | None = None) -> SmsFit:
    """The text to send for ``mode`` and ``max_segments``, with its segment count."""
    if max_segments is not None and max_segments < 1:
        raise ValueError(f"max_segments: value {max_segments!r}: must be at least 1")
    if mode not in (True, False, "auto"):
        raise ValueError(f'khong_dau: value {mode!r}: expected true, false or "auto"')
    original = sms_info(text)
    fold = mode is True
    if mode == "auto":
        if max_segments is not None:
            fold = original.segments > max_segments
        else:
            fold = sms_info(khong_dau(text)).segments < original.segments
    chosen_text = khong_dau(text) if fold else text
    info = sms_info(chosen_text) if fold else original
    over = max_segments is not None and info.segments > max_segments
    return SmsFit(chosen_text, info.segments, info.encoding, fold and chosen_text != text, over)


def segment_limit(kind: str, max_segments: int | None, by_kind: Mapping[str, int]) -> int | None:
    """The segment budget for one kind: the kind's own (`max_segments_by_kind`) wins over the channel's."""
    return by_kind.get(kind, max_segments)


@dataclass(frozen=True)
class SmsBudget:
    """One SMS channel's economics for one kind, as plain values.

    A channel that has them declares so (`HasSmsBudget` in notifier.channels.abilities) and hands them over;
    a channel that does not sends its text unchanged, which is what the default budget does.
    """

    khong_dau: KhongDau = False
    max_segments: int | None = None

    def fit(self, text: str) -> SmsFit:
        return fit_sms(text, mode=self.khong_dau, max_segments=self.max_segments)
