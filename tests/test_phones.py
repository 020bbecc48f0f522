import pickle

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.rules.phones import (
    InvalidPhone,
    is_mobile,
    last_digits,
    mask_phone,
    normalize_phone,
    stored_is_mobile,
    stored_national,
    to_national,
    to_zalo,
)

# Mobile prefixes from DOMAIN.md, each with a subscriber number phonenumbers accepts. Most prefixes are
# allocated whole; for 052, 055, 089 and 099 the metadata only knows some blocks (see below).
DOMAIN_MOBILE_SAMPLES = {
    **{f"03{d}": "1234567" for d in "23456789"},
    "052": "2345678",
    "055": "9123456",
    "056": "1234567",
    "058": "1234567",
    "059": "1234567",
    "070": "1234567",
    **{f"07{d}": "1234567" for d in "6789"},
    **{f"08{d}": "1234567" for d in "12345678"},
    "089": "6123456",
    **{f"09{d}": "1234567" for d in "0123469"},
    "097": "1234567",
    "098": "1234567",
    "099": "1234567",
}

# The 2018 conversion, written out as in DOMAIN.md rather than derived from the module's table.
OLD_TO_NEW = {
    "0162": "032", "0163": "033", "0164": "034", "0165": "035",
    "0166": "036", "0167": "037", "0168": "038", "0169": "039",
    "0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
    "0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
    "0186": "056", "0188": "058",
    "0199": "059",
}  # fmt: skip


def test_domain_list_covers_every_prefix() -> None:
    expected = (
        [f"03{d}" for d in range(2, 10)]
        + ["052", "055", "056", "058", "059", "070", "076", "077", "078", "079"]
        + [f"08{d}" for d in range(1, 10)]
        + [f"09{d}" for d in (0, 1, 2, 3, 4, 6, 7, 8, 9)]
    )
    assert sorted(DOMAIN_MOBILE_SAMPLES) == sorted(expected)


@pytest.mark.parametrize(("prefix", "rest"), sorted(DOMAIN_MOBILE_SAMPLES.items()))
def test_every_mobile_prefix(prefix: str, rest: str) -> None:
    national = prefix + rest
    e164 = "+84" + national[1:]
    assert normalize_phone(national) == e164
    assert is_mobile(e164)
    assert to_national(e164) == national
    assert to_zalo(e164) == "84" + national[1:]


@pytest.mark.parametrize("national", ["0521234567", "0551234567", "0891234567", "0992345678"])
def test_unallocated_blocks_inside_domain_prefixes_are_rejected(national: str) -> None:
    # phonenumbers only knows 0522/0523/0528, 0559, 0896-0899 and 099 except 0992 as allocated.
    with pytest.raises(InvalidPhone, match="not an allocated"):
        normalize_phone(national)
    assert not is_mobile(national)


@pytest.mark.parametrize("national", ["0512345678", "0951234567"])
def test_mobile_ranges_phonenumbers_knows_beyond_domain_md(national: str) -> None:
    assert is_mobile(normalize_phone(national))


@pytest.mark.parametrize(("old", "new"), sorted(OLD_TO_NEW.items()))
def test_every_old_prefix_is_converted(old: str, new: str) -> None:
    subscriber = "1234567"
    expected = "+84" + new[1:] + subscriber
    # phonenumbers alone rightly rejects the retired ranges, which is why we convert first.
    assert not phonenumbers.is_valid_number(phonenumbers.parse(old + subscriber, "VN"))
    forms = [
        old + subscriber,
        f"{old} {subscriber[:3]} {subscriber[3:]}",
        f"+84{old[1:]}{subscriber}",
        f"+84 {old[1:]} {subscriber}",
        f"84{old[1:]}{subscriber}",
        f"0084{old[1:]}{subscriber}",
        f"{old[1:]}{subscriber}",
        f"(+84) {old[1:]}-{subscriber[:3]}.{subscriber[3:]}",
    ]
    for form in forms:
        assert normalize_phone(form) == expected, form
    assert is_mobile(old + subscriber)
    assert mask_phone(old + subscriber) == f"{new}****567"


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "(091) 234-5678",
        "+84912345678",
        "+84 91 234 56 78",
        "(+84) 91-234.5678",
        "+84 (0) 912 345 678",
        "84912345678",
        "0084912345678",
        "00 84 912 345 678",
        "912345678",
        "  0912345678\n",
        "0912\u00a0345\u00a0678",  # no-break spaces from a spreadsheet
        "０９１２３４５６７８",  # full-width digits from a Vietnamese IME
    ],
)
def test_accepted_formats(raw: str) -> None:
    assert normalize_phone(raw) == "+84912345678"


@pytest.mark.parametrize(
    ("raw", "e164", "national"),
    [
        ("0225 3842 222", "+842253842222", "02253842222"),  # Hải Phòng
        ("0225.3123456", "+842253123456", "02253123456"),
        ("024 3825 3456", "+842438253456", "02438253456"),  # Hà Nội
        ("(028) 3822 1234", "+842838221234", "02838221234"),  # TP. Hồ Chí Minh
        ("1800 1234", "+8418001234", "18001234"),  # toll-free: no trunk 0
        ("1900 1234 56", "+841900123456", "1900123456"),
    ],
)
def test_landlines_and_service_numbers_are_valid_but_not_mobile(raw: str, e164: str, national: str) -> None:
    assert normalize_phone(raw) == e164
    assert not is_mobile(e164)
    assert to_national(e164) == national


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("-.()", "empty"),
        ("abc", "contains letters"),
        ("0912abc678", "contains letters"),
        ("SĐT: 0912345678", "contains letters"),
        ("0912345678 / 0987654321", "only digits"),
        ("++84912345678", "only digits"),
        ("0912+345678", "only digits"),
        ("0123", "too short"),
        ("091234567", "too short"),
        ("09123456789", "too long"),
        ("+84 9123 456 789", "too long"),
        ("0225384222", "too short"),  # a landline digit missing
        ("022538422221", "too long"),
        ("0", "too short"),
        ("+84", "too short"),
        ("+1 650 253 0000", "not a Vietnamese number"),
        ("0033 1 42 68 53 00", "not a Vietnamese number"),
        ("0501234567", "not an allocated"),
        ("02012345678", "not an allocated"),  # no area code 201
    ],
)
def test_invalid_inputs_name_the_value_and_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone(raw)
    assert info.value.value == raw
    assert reason in info.value.reason
    assert str(info.value).startswith(f"phone {raw!r}: ")
    assert isinstance(info.value, ValueError)


def test_error_message_format() -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone("0123")
    assert str(info.value) == "phone '0123': too short"


def test_non_string_is_invalid_not_a_crash() -> None:
    with pytest.raises(InvalidPhone, match="not a string"):
        normalize_phone(912345678)  # type: ignore[arg-type]


def test_invalid_phone_survives_pickling() -> None:
    error = InvalidPhone("0123", "too short")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.value, copy.reason, str(copy)) == ("0123", "too short", "phone '0123': too short")


def test_region_is_where_numbers_without_country_code_are_dialled_from() -> None:
    assert normalize_phone("+84912345678", region="US") == "+84912345678"
    with pytest.raises(InvalidPhone, match="not a Vietnamese number"):
        normalize_phone("(650) 253-0000", region="US")


def test_channel_formats() -> None:
    e164 = "+84912345678"
    assert to_national(e164) == "0912345678"
    assert to_zalo(e164) == "84912345678"
    assert last_digits(e164) == "5678"
    assert last_digits(e164, 3) == "678"
    assert last_digits(e164, 0) == ""
    assert last_digits(e164, 20) == "0912345678"
    # Every function accepts any written form, not only E.164.
    assert to_zalo("0162 123 4567") == "84321234567"
    with pytest.raises(ValueError):
        last_digits(e164, -1)
    with pytest.raises(InvalidPhone):
        to_national("abc")
    with pytest.raises(InvalidPhone):
        to_zalo("0123")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("0912345678", "091****678"),
        ("+84912345678", "091****678"),
        ("84 912 345 678", "091****678"),
        ("01621234567", "032****567"),
        ("0225 3842 222", "022*****222"),
        ("18001234", "180**234"),
        ("", "***"),
        ("abc", "***"),
        ("0123", "***"),
        ("+1 650 253 0000", "***"),
        (None, "***"),
        (912345678, "***"),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_is_mobile_is_false_for_garbage() -> None:
    for value in ["", "abc", "0123", "+1 650 253 0000", None]:
        assert not is_mobile(value)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------------------------

FULL_PREFIXES = sorted(p for p in DOMAIN_MOBILE_SAMPLES if p not in {"052", "055", "089", "099"})
mobiles = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(FULL_PREFIXES),
    st.text("0123456789", min_size=7, max_size=7),
)
separators = st.sampled_from([" ", ".", "-", "", "  "])


@given(mobiles)
def test_normalize_is_idempotent(national: str) -> None:
    e164 = normalize_phone(national)
    assert normalize_phone(e164) == e164
    assert is_mobile(e164)


@given(mobiles)
def test_national_and_zalo_forms_round_trip(national: str) -> None:
    e164 = normalize_phone(national)
    assert to_national(e164) == national
    assert normalize_phone(to_national(e164)) == e164
    assert normalize_phone(to_zalo(e164)) == e164
    assert last_digits(e164) == national[-4:]
    masked = mask_phone(e164)
    assert masked[:3] == national[:3] and masked[-3:] == national[-3:] and set(masked[3:-3]) == {"*"}


leads = st.sampled_from(["0", "+84", "84", "0084", "+84 (0)"])


@given(mobiles, st.lists(separators, min_size=3, max_size=3), leads)
def test_written_forms_all_normalize_alike(national: str, seps: list[str], lead: str) -> None:
    body = national[1:]
    written = lead + seps[0] + body[:2] + seps[1] + body[2:5] + seps[2] + body[5:]
    assert normalize_phone(written) == "+84" + body


@given(st.text(max_size=25))
def test_arbitrary_text_either_normalizes_stably_or_raises_invalid_phone(raw: str) -> None:
    try:
        e164 = normalize_phone(raw)
    except InvalidPhone as error:
        assert error.value == raw
    else:
        assert e164.startswith("+84")
        assert normalize_phone(e164) == e164
    mask_phone(raw)  # never raises
    is_mobile(raw)  # never raises


@given(st.text("0123456789+ .-()", max_size=16))
def test_digit_soup_either_normalizes_stably_or_raises_invalid_phone(raw: str) -> None:
    try:
        e164 = normalize_phone(raw)
    except InvalidPhone:
        return
    assert normalize_phone(e164) == e164
    assert normalize_phone(to_national(e164)) == e164


@pytest.mark.parametrize("prefix, subscriber", sorted(DOMAIN_MOBILE_SAMPLES.items()))
def test_stored_mobile_numbers_take_the_short_path_to_the_same_national_form(prefix: str, subscriber: str) -> None:
    # stored_national (the gateway's form, and the mask's) skips phonenumbers for stored E.164 mobile
    # numbers; it must give what the full parse gives, for every mobile prefix.
    e164 = normalize_phone(prefix + subscriber)
    national = to_national(e164)
    assert stored_national(e164) == national
    assert mask_phone(e164) == national[:3] + "*" * (len(national) - 6) + national[-3:]


def test_stored_national_of_other_numbers_is_to_national() -> None:
    for raw in ("02253838888", "19001234", "18001091"):
        e164 = normalize_phone(raw)
        assert stored_national(e164) == to_national(e164)
    with pytest.raises(InvalidPhone):
        stored_national("not a phone")


@given(st.text("0123456789+", min_size=8, max_size=13))
def test_stored_is_mobile_agrees_with_is_mobile_on_every_storable_number(raw: str) -> None:
    # What can be stored is what normalize_phone accepts; on those the fast path must say what is_mobile
    # says (a landline, a service number, a number phonenumbers does not know, an old 11-digit mobile).
    try:
        stored = normalize_phone(raw)
    except InvalidPhone:
        stored_is_mobile(raw)  # never raises; such a value is never stored (ingest refuses it)
        return
    assert stored_is_mobile(stored) == is_mobile(stored)


@pytest.mark.parametrize(("prefix", "rest"), sorted(DOMAIN_MOBILE_SAMPLES.items()))
def test_stored_is_mobile_knows_every_mobile_prefix(prefix: str, rest: str) -> None:
    stored = normalize_phone(prefix + rest)
    assert stored_is_mobile(stored) and is_mobile(stored)
    assert not stored_is_mobile("+842253842222")  # a landline in stored form: still not a mobile
