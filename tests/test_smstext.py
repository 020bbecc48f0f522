import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.rules.smstext import GSM7_BASIC, GSM7_EXTENDED, SmsInfo, fits, is_gsm7, khong_dau, sms_info

# -- alphabet ----------------------------------------------------------------------------------------------


def test_gsm7_tables() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points minus ESC
    assert set("\f^{}\\[~]|€") == GSM7_EXTENDED
    assert not GSM7_BASIC & GSM7_EXTENDED
    printable_ascii = {chr(c) for c in range(0x20, 0x7F)}
    # Printable ASCII missing from the basic table: the extension characters and the backtick.
    assert printable_ascii - GSM7_BASIC == (GSM7_EXTENDED - {"\f", "€"}) | {"`"}
    assert {"\n", "\r", "£", "¥", "é", "Δ", "Ω", "¤", "§", "¿", "à"} <= GSM7_BASIC


def test_is_gsm7() -> None:
    assert is_gsm7("")
    assert is_gsm7("Ho so da duoc tiep nhan. Phi: 50.000d {ma: [A1]} €5")
    assert not is_gsm7("Hồ sơ")
    assert not is_gsm7("`")
    assert not is_gsm7("tab\there")
    assert not is_gsm7("😀")


# -- segment counts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [(1, 1, 160, 159), (160, 1, 160, 0), (161, 2, 153, 145), (306, 2, 153, 0), (307, 3, 153, 152)],
)
def test_gsm7_boundaries(length: int, segments: int, per_segment: int, remaining: int) -> None:
    assert sms_info("a" * length) == SmsInfo("GSM-7", length, segments, per_segment, remaining)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [(1, 1, 70, 69), (70, 1, 70, 0), (71, 2, 67, 63), (134, 2, 67, 0), (135, 3, 67, 66)],
)
def test_ucs2_boundaries(length: int, segments: int, per_segment: int, remaining: int) -> None:
    assert sms_info("ệ" * length) == SmsInfo("UCS-2", length, segments, per_segment, remaining)


def test_one_diacritic_switches_the_whole_text_to_ucs2() -> None:
    assert sms_info("a" * 69 + "á").segments == 1
    assert sms_info("a" * 70 + "á") == SmsInfo("UCS-2", 71, 2, 67, 63)


def test_empty_text_takes_no_segment() -> None:
    assert sms_info("") == SmsInfo("GSM-7", 0, 0, 160, 160)
    assert fits("", 0)


def test_extended_characters_count_two_septets() -> None:
    assert sms_info("€") == SmsInfo("GSM-7", 2, 1, 160, 158)
    assert sms_info("a" * 158 + "€") == SmsInfo("GSM-7", 160, 1, 160, 0)
    assert sms_info("a" * 159 + "€").segments == 2
    assert sms_info("[]" * 80).units == 320


def test_extended_character_is_not_split_at_a_part_boundary() -> None:
    # 152 + 2 septets would straddle the 153 boundary, so "€" opens part two.
    info = sms_info("a" * 152 + "€" + "a" * 10)
    assert info == SmsInfo("GSM-7", 164, 2, 153, 153 - 12)
    # Exactly filling the first part is fine.
    assert sms_info("a" * 151 + "€" + "a" * 10) == SmsInfo("GSM-7", 163, 2, 153, 153 - 10)
    # The naive ceil(units / 153) says 2 parts here; the split actually needs 3.
    straddling = "a" * 152 + "€" + "a" * 150 + "€"
    assert sms_info(straddling).units == 306
    assert sms_info(straddling).segments == 3


def test_emoji_is_a_surrogate_pair() -> None:
    assert sms_info("😀") == SmsInfo("UCS-2", 2, 1, 70, 68)
    assert sms_info("😀" * 35) == SmsInfo("UCS-2", 70, 1, 70, 0)
    assert sms_info("😀" * 36).segments == 2
    # A pair is never split: 66 units + a 2-unit emoji overflows the 67-unit part.
    assert sms_info("a" * 66 + "😀" + "a" * 5) == SmsInfo("UCS-2", 73, 2, 67, 60)


def test_realistic_messages() -> None:
    accented = "Hồ sơ số 000.00.12.H23-241120-0001 của Ông/Bà đã được tiếp nhận"
    assert sms_info(accented).encoding == "UCS-2"
    assert sms_info(accented).segments == 1
    long_accented = accented + ". Ngày hẹn trả kết quả: 24/11/2026. Tra cứu tại dichvucong.gov.vn"
    assert sms_info(long_accented).segments == 2
    assert sms_info(khong_dau(long_accented)).encoding == "GSM-7"
    assert sms_info(khong_dau(long_accented)).segments == 1


def test_fits() -> None:
    assert fits("a" * 160, 1)
    assert not fits("a" * 161, 1)
    assert fits("a" * 161, 2)
    assert not fits("ư" * 71, 1)
    assert not fits("a", 0)


# -- không dấu -----------------------------------------------------------------------------------------------


def all_vietnamese_letters() -> dict[str, str]:
    """Found by scanning Unicode, independently of the module: letter -> expected ASCII letter.

    A Vietnamese vowel is a, e, i, o, u or y, optionally with one vowel mark (breve, circumflex, horn,
    on the letters that take it) and optionally with one tone mark.
    """
    vowel_marks = {"a": {"\u0306", "\u0302"}, "e": {"\u0302"}, "o": {"\u0302", "\u031b"}, "u": {"\u031b"}}
    tones = {"\u0300", "\u0301", "\u0309", "\u0303", "\u0323"}
    found: dict[str, str] = {}
    for code in range(0x00C0, 0x1F00):
        ch = chr(code)
        base, *marks = unicodedata.normalize("NFD", ch)
        lower = base.lower()
        if lower not in "aeiouy" or not marks or len(marks) > 2:
            continue
        vowel = [m for m in marks if m not in tones]
        tone = [m for m in marks if m in tones]
        if len(tone) <= 1 and len(vowel) <= 1 and set(vowel) <= vowel_marks.get(lower, set()):
            found[ch] = base
    found.update({"đ": "d", "Đ": "D"})
    return found


VIETNAMESE = all_vietnamese_letters()


def test_the_vietnamese_alphabet_has_134_non_ascii_letters() -> None:
    assert len(VIETNAMESE) == 134  # 66 accented vowels in each case + đ/Đ
    assert len([c for c in VIETNAMESE if c.islower()]) == 67


@pytest.mark.parametrize(("letter", "plain"), sorted(VIETNAMESE.items()))
def test_every_vietnamese_letter_folds_to_its_base(letter: str, plain: str) -> None:
    assert khong_dau(letter) == plain
    # Decomposed input (as some keyboards produce) folds the same way.
    assert khong_dau(unicodedata.normalize("NFD", letter)) == plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hồ sơ số 000.00.12.H23-241120-0001 của Ông/Bà đã được tiếp nhận",
            "Ho so so 000.00.12.H23-241120-0001 cua Ong/Ba da duoc tiep nhan",
        ),
        (
            "UBND TP. HẢI PHÒNG xin lỗi Ông/Bà vì hồ sơ trễ hạn; ngày hẹn trả mới: 24/11/2026.",
            "UBND TP. HAI PHONG xin loi Ong/Ba vi ho so tre han; ngay hen tra moi: 24/11/2026.",
        ),
        ("Phí, lệ phí: 1.500.000 ₫", "Phi, le phi: 1.500.000 d"),
        ("Phí:\u00a01.500.000\u00a0₫", "Phi: 1.500.000 d"),
        ("“Đã thanh toán” – ‘xong’ — chờ trả…", "\"Da thanh toan\" - 'xong' - cho tra..."),
        ("Nguyễn Văn Đức, Trương Thị Ửng, Lưu Ý Ỷ", "Nguyen Van Duc, Truong Thi Ung, Luu Y Y"),
        ("Tel: 0912 345 678 ✓ 👍🏻", "Tel: 0912 345 678 ? ??"),
        ("zero\u200bwidth soft\u00adhyphen", "zerowidth softhyphen"),
        ("tab\tand\r\nnewline", "tab and\r\nnewline"),
        ("Ｆｕｌｌ ｗｉｄｔｈ", "Full width"),
        ("{a} [b] ~c| ^€", "{a} [b] ~c| ^€"),  # extension characters stay, at 2 septets each
        ("Smørrebrød Ærø Ç ñ ü ß", "Smørrebrød Ærø Ç ñ ü ß"),  # already GSM-7
        ("ç ō ł", "c o ?"),
        ("", ""),
    ],
)
def test_khong_dau_sentences(text: str, expected: str) -> None:
    assert khong_dau(text) == expected
    assert is_gsm7(khong_dau(text))


def test_gsm7_accented_letters_that_are_vietnamese_tones_are_still_folded() -> None:
    # é è à ì ò ù are in the GSM table, but leaving them would make half-accented Vietnamese.
    assert khong_dau("Bé về nhà, mì ò ù É") == "Be ve nha, mi o u E"


@given(st.text())
def test_khong_dau_output_is_always_gsm7(text: str) -> None:
    assert is_gsm7(khong_dau(text))


@given(st.text())
def test_khong_dau_is_idempotent(text: str) -> None:
    once = khong_dau(text)
    assert khong_dau(once) == once


@given(st.text(alphabet=st.sampled_from(sorted(VIETNAMESE) + list(" .,abcdeghiklmnopqrstuvxy"))))
def test_khong_dau_on_vietnamese_keeps_length_and_is_ascii(text: str) -> None:
    folded = khong_dau(text)
    assert len(folded) == len(text)
    assert folded.isascii()


@given(st.text(), st.characters())
def test_segments_never_decrease_when_appending(text: str, ch: str) -> None:
    before, after = sms_info(text), sms_info(text + ch)
    assert after.segments >= before.segments
    assert after.segments >= 1


@given(st.text(alphabet=st.sampled_from([*sorted(GSM7_BASIC | GSM7_EXTENDED), "ế", "😀"]), max_size=500))
def test_segment_arithmetic_is_consistent(text: str) -> None:
    info = sms_info(text)
    assert info.units >= len(text)
    assert 0 <= info.remaining <= info.per_segment
    if info.segments > 1:
        # Splitting never wastes more than one unit per part.
        assert info.per_segment * (info.segments - 1) < info.units + (info.segments - 1)
        assert info.units <= info.per_segment * info.segments
    assert fits(text, info.segments) and not fits(text, info.segments - 1)


def _walked(text: str) -> tuple[int, int, int]:
    """(units, segments, remaining) by walking every character: the definition sms_info must keep."""
    encoding = "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text) else "UCS-2"
    single, per_part = (160, 153) if encoding == "GSM-7" else (70, 67)
    if encoding == "GSM-7":
        costs = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    else:
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    units = sum(costs)
    if units <= single:
        return units, 1 if units else 0, single - units
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            segments, used = segments + 1, 0
        used += cost
    return units, segments, per_part - used


@given(st.text(alphabet=st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENDED) + list("ạđươ€😀")), max_size=400))
def test_counted_parts_equal_walked_parts(text: str) -> None:
    info = sms_info(text)
    assert (info.units, info.segments, info.remaining) == _walked(text)
