"""Vietnamese phone numbers: normalisation to E.164, mobile detection, channel formats and masking.

Numbers reach notifier from the provincial system as typed by clerks and citizens, so the parser is
lenient about formatting (spaces, dots, dashes, parentheses, +84/84/0084/0) and still carries
pre-2018 11-digit mobile numbers, which it converts before validating with ``phonenumbers`` (whose
metadata rightly treats the old ranges as unallocated now).

Only Vietnamese numbers are accepted: every channel notifier uses (brandname SMS, Zalo ZNS) delivers to
Vietnamese subscribers only, so a foreign number is reported as invalid rather than failing later.
"""

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

VN_COUNTRY_CODE = 84
_E164_PREFIX = f"+{VN_COUNTRY_CODE}"

# 2018 conversion of 11-digit mobile numbers: old national prefix (without the trunk 0) -> new one.
# The 7 subscriber digits that follow are kept unchanged.
OLD_MOBILE_PREFIXES: dict[str, str] = {
    # Viettel
    **{f"16{d}": f"3{d}" for d in "23456789"},
    # MobiFone
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",
    # VinaPhone
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",
    # Vietnamobile, Gmobile
    "186": "56", "188": "58", "199": "59",
}  # fmt: skip

# Mobile prefixes (national, without the trunk 0) per the numbering plan in DOMAIN.md. phonenumbers is
# consulted first; this list keeps is_mobile right if its metadata ever types a range differently.
MOBILE_PREFIXES: frozenset[str] = frozenset(
    [f"3{d}" for d in "23456789"]
    + ["52", "55", "56", "58", "59", "70", "76", "77", "78", "79"]
    + [f"8{d}" for d in "123456789"]
    + ["90", "91", "92", "93", "94", "96", "97", "98", "99"]
)

# Lengths of the national significant number by its first digit: mobiles have 9 digits, landlines
# 10 (2 + area code + subscriber). Lets us say "too short" instead of a vague "invalid".
_EXPECTED_LENGTH = {"2": 10, "3": 9, "5": 9, "7": 9, "8": 9, "9": 9}

_POSSIBILITY_PROBLEMS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length",
}

_SEPARATORS = re.compile(r"[\s.\-()]")
_DIGITS = re.compile(r"\+?[0-9]+")
_NON_DIGITS = re.compile(r"[^0-9]")
_MASK_KEEP = 3


class InvalidPhone(ValueError):
    """A value that is not a usable Vietnamese phone number."""

    def __init__(self, value: object, reason: str) -> None:
        # Both go to args so the exception survives pickling (worker processes, task queues).
        super().__init__(value, reason)
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"phone {self.value!r}: {self.reason}"


# A mobile number as stored (E.164, as ingest writes it): its national form needs no parsing.
_STORED_MOBILE = re.compile(r"\+84[35789]\d{8}")

# Parsing and validating with phonenumbers costs tens of microseconds a number, and the same number is
# read several times per message (masked in the text, national form for the gateway): the pure results
# are kept for the numbers of the last few batches. Failures raise and are not kept.
_CACHED = 16384


def normalize_phone(raw: str, region: str = "VN") -> str:
    """Any common written form -> E.164 ("+84912345678"); raises InvalidPhone.

    ``region`` is where a number written without a country code is assumed to be dialled from.
    """
    if not isinstance(raw, str):
        raise InvalidPhone(raw, "not a string")
    return _normalized(raw, region)


def phone_or_none(raw: str) -> str | None:
    """`raw` in E.164, or None when it is not a phone number (a short code, a name, a typo): for a sender or
    a search box, where anything else is simply not a phone."""
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


@lru_cache(maxsize=_CACHED)
def _normalized(raw: str, region: str) -> str:
    digits = _clean(raw)
    national = _national_number(raw, digits, region)
    national = convert_old_mobile(national)
    number = _validated(raw, national)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def convert_old_mobile(national: str) -> str:
    """Map a pre-2018 10-digit national mobile number (e.g. "1621234567") to its 9-digit successor."""
    if len(national) == 10 and national[:3] in OLD_MOBILE_PREFIXES:
        return OLD_MOBILE_PREFIXES[national[:3]] + national[3:]
    return national


def _clean(raw: object) -> str:
    """Strip the separators people type; what is left must be digits with an optional leading +."""
    if not isinstance(raw, str):
        raise InvalidPhone(raw, "not a string")
    # NFKC turns full-width digits and exotic spaces from copy-pasted text into their plain forms.
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if not text:
        raise InvalidPhone(raw, "empty")
    if any(ch.isalpha() for ch in text):
        raise InvalidPhone(raw, "contains letters")
    if not _DIGITS.fullmatch(text):
        raise InvalidPhone(raw, "only digits, a leading '+' and the separators ' .-()' are allowed")
    return text


def _national_number(raw: str, digits: str, region: str) -> str:
    """The national significant number (no trunk 0) of a Vietnamese number, else InvalidPhone."""
    if digits.startswith("+"):
        international = digits[1:]
    elif region == "VN" and digits.startswith("00"):
        international = digits[2:]
    elif region == "VN" and digits.startswith("84") and len(digits) >= 11:
        # No Vietnamese national number starts with 84 and is this long, so this is "84" + number.
        international = digits
    elif region == "VN":
        return digits[1:] if digits.startswith("0") else digits
    else:
        return _national_from_region(raw, digits, region)
    # Country codes are prefix-free, so the leading 84 alone decides whether the number is Vietnamese.
    if not international.startswith(str(VN_COUNTRY_CODE)):
        raise InvalidPhone(raw, "not a Vietnamese number")
    national = international[len(str(VN_COUNTRY_CODE)) :]
    # "+84 (0) 91..." keeps the trunk 0 by habit.
    return national[1:] if national.startswith("0") else national


def _national_from_region(raw: str, digits: str, region: str) -> str:
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException as exc:
        raise InvalidPhone(raw, f"cannot be read as a number from region {region}") from exc
    if number.country_code != VN_COUNTRY_CODE:
        raise InvalidPhone(raw, "not a Vietnamese number")
    return phonenumbers.national_significant_number(number)


def _validated(raw: str, national: str) -> phonenumbers.PhoneNumber:
    problem = _length_problem(national)
    if problem:
        raise InvalidPhone(raw, problem)
    try:
        number = phonenumbers.parse(f"+{VN_COUNTRY_CODE}{national}")
    except NumberParseException as exc:
        raise InvalidPhone(raw, "cannot be read as a number") from exc
    length_problem = _POSSIBILITY_PROBLEMS.get(phonenumbers.is_possible_number_with_reason(number))
    if length_problem:
        raise InvalidPhone(raw, length_problem)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(raw, "not an allocated Vietnamese number")
    return number


def _length_problem(national: str) -> str | None:
    if not national:
        return "too short"
    expected = _EXPECTED_LENGTH.get(national[0])
    if expected is None or len(national) == expected:
        return None
    return "too short" if len(national) < expected else "too long"


def _national_of(phone: str) -> str:
    """National significant number of any accepted form (E.164 or not)."""
    return normalize_phone(phone).removeprefix(_E164_PREFIX)


def is_mobile(e164: str) -> bool:
    """True for a Vietnamese mobile number; False for landlines, service numbers and unusable values."""
    try:
        e164 = normalize_phone(e164)
    except InvalidPhone:
        return False
    if phonenumbers.number_type(phonenumbers.parse(e164)) == PhoneNumberType.MOBILE:
        return True
    national = e164.removeprefix(_E164_PREFIX)
    return len(national) == 9 and national[:2] in MOBILE_PREFIXES


def to_national(e164: str) -> str:
    """National form, e.g. "0912345678": the form citizens write and read.

    Taken from phonenumbers' national format because service numbers (1800/1900) are dialled without the
    trunk 0 that ordinary numbers need.
    """
    if not isinstance(e164, str):
        raise InvalidPhone(e164, "not a string")
    return _national_form(e164)


@lru_cache(maxsize=_CACHED)
def _national_form(e164: str) -> str:
    number = phonenumbers.parse(normalize_phone(e164))
    return _NON_DIGITS.sub("", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))


def stored_national(phone: str) -> str:
    """`to_national` of a number as notifier stores it, without parsing a mobile number again.

    Stored numbers were validated when they were stored (imports, contacts), and what the dispatcher and
    the masks need is only the national form; the gateway is the judge of a number that was allocated
    then and is not now.
    """
    if isinstance(phone, str) and _STORED_MOBILE.fullmatch(phone):
        return "0" + phone[3:]  # what to_national gives for a mobile number
    return to_national(phone)


def stored_is_mobile(phone: str) -> bool:
    """`is_mobile` of a number as notifier stores it, without parsing a stored mobile number again.

    As for `stored_national`: stored numbers were validated when stored, so a stored mobile is known by its
    form and prefix alone (phonenumbers parsed each new number three times, the dispatcher's largest cost
    per message); any other form is judged by `is_mobile`.
    """
    if isinstance(phone, str) and _STORED_MOBILE.fullmatch(phone) and phone[3:5] in MOBILE_PREFIXES:
        return True
    return is_mobile(phone)


def to_zalo(e164: str) -> str:
    """Zalo form, e.g. "84912345678": ZNS wants the country code without "+"."""
    return str(VN_COUNTRY_CODE) + _national_of(e164)


def last_digits(e164: str, n: int = 4) -> str:
    """The last n digits, e.g. for "số điện thoại đuôi 5678" in messages."""
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    digits = to_national(e164)
    return digits[-n:] if n else ""


def mask_phone(phone: str) -> str:
    """National form with all but the first and last 3 digits hidden ("091****678"); never raises.

    Meant for logs and officer screens (the personal-data law, see [privacy]), so an unusable value is
    hidden entirely rather than echoed.
    """
    try:
        national = stored_national(phone)
    except InvalidPhone:  # non-strings included: _clean reports them as InvalidPhone
        return "***"
    hidden = len(national) - 2 * _MASK_KEEP
    if hidden < 1:  # too short to keep both ends without revealing the whole number
        return "***"
    return national[:_MASK_KEEP] + "*" * hidden + national[-_MASK_KEEP:]
