"""Personal data in free text: find it and replace it with a placeholder naming what was removed.

Residents write phone numbers, ID card numbers, plates and e-mail addresses into a complaint's
description. Whatever is published (the public Open311 reads) or handed to another component (the
smart intake) goes through :func:`redact` first. It is pure and errs towards removing too much:
a long number that merely looks like an ID card number is removed as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class PersonalData(StrEnum):
    """The kinds of personal data :func:`redact` removes, each with its placeholder."""

    EMAIL = "email"
    ID_CARD = "id_card"
    PHONE = "phone"
    PLATE = "plate"

    @property
    def placeholder(self) -> str:
        return _PLACEHOLDERS[self]


_PLACEHOLDERS = {
    PersonalData.EMAIL: "[邮箱]",
    PersonalData.ID_CARD: "[身份证号]",
    PersonalData.PHONE: "[电话]",
    PersonalData.PLATE: "[车牌]",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data: its kind and its place in the text, ``text[start:end]``."""

    kind: PersonalData
    start: int
    end: int
    text: str


# Residents type full-width digits and letters (１３８…) as often as ASCII ones. Matching runs on
# a copy where each full-width ASCII character is its ASCII twin: one character for one, so the
# positions found there are positions in the original.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = 0x20  # the ideographic space

# No ASCII letter or digit may touch a number on either side: 13812345678 inside a longer number is
# not a phone number. Chinese characters may (电话13812345678联系).
_START = r"(?<![0-9A-Za-z])"
_END = r"(?![0-9A-Za-z])"
_SEP = r"[ \-]?"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

# Resident ID: 6-digit area, birth date, 3-digit sequence, check character (0-9 or X); the old
# 15-digit form has a 2-digit year and no check character. Spaces between the groups are allowed.
_ID_18 = (
    r"[1-9][0-9]{5}" + r"[ ]?(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[ ]?[0-9]{3}[0-9Xx]"
)
_ID_15 = r"[1-9][0-9]{5}[ ]?[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[ ]?[0-9]{3}"
_ID_CARD = re.compile(_START + f"(?:{_ID_18}|{_ID_15})" + _END)

# Mainland mobile: 1[3-9]x xxxx xxxx, optionally after +86 / 0086 / (+86), with spaces or dashes.
_MOBILE = re.compile(
    _START
    + r"(?:(?:\+|00)?86[ \-]?|\(\+?86\)[ ]?)?"
    + r"1[3-9][0-9]"
    + _SEP
    + r"[0-9]{4}"
    + _SEP
    + r"[0-9]{4}"
    + _END
)

# Landline with its area code: 010-12345678, 0731-88886666, (0731)88886666, 0731 8888666 转 123.
_LANDLINE = re.compile(
    _START
    + r"(?:\(0[1-9][0-9]{1,2}\)[ ]?|0[1-9][0-9]{1,2}[ \-]?)"
    + r"[0-9]{7,8}"
    + r"(?:[ ]?(?:-|转|分机|ext\.?|x)[ ]?[0-9]{1,5})?"
    + _END,
    re.IGNORECASE,
)

# A bare 7- or 8-digit number is only a phone number when the text says so (电话 87654321).
_CUED_LOCAL = re.compile(
    r"(?:电话|座机|固话|手机|联系方式|tel|phone)[^0-9A-Za-z]{0,4}?"
    + r"(?P<number>"
    + _START
    + r"[0-9]{3,4}[ \-]?[0-9]{4}"
    + _END
    + r")",
    re.IGNORECASE,
)

# Vehicle plates: province, issuing-office letter (no I or O), an optional separator dot, then five
# characters (ordinary) or six (new energy: D/F and five digits, or five digits and D/F); trailer,
# learner and police plates have four and a 挂/学/警 suffix. At least two of the tail characters
# are digits: 京ABCDE is not a plate.
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE = re.compile(
    f"[{_PROVINCES}]"
    + r"[A-HJ-NP-Za-hj-np-z]"
    + r"[·•・. \-]?"
    + r"(?=(?:[A-Za-z]*[0-9]){2})"
    + r"(?:[A-HJ-NP-Za-hj-np-z0-9]{5,6}(?![0-9A-Za-z])[挂学警]?"
    + r"|[A-HJ-NP-Za-hj-np-z0-9]{4}[挂学警])"
)

# Earlier patterns win where matches overlap: an e-mail's digits are not a phone number, an ID
# card number's middle is not a mobile number.
_PATTERNS: tuple[tuple[PersonalData, re.Pattern[str], str | int], ...] = (
    (PersonalData.EMAIL, _EMAIL, 0),
    (PersonalData.ID_CARD, _ID_CARD, 0),
    (PersonalData.PHONE, _MOBILE, 0),
    (PersonalData.PHONE, _LANDLINE, 0),
    (PersonalData.PHONE, _CUED_LOCAL, "number"),
    (PersonalData.PLATE, _PLATE, 0),
)


def find_personal_data(text: str) -> list[Finding]:
    """Every piece of personal data in ``text``, in order, none overlapping another."""
    folded = text.translate(_FULL_WIDTH)
    taken: list[Finding] = []
    for kind, pattern, group in _PATTERNS:
        for match in pattern.finditer(folded):
            start, end = match.span(group)
            if any(start < other.end and other.start < end for other in taken):
                continue
            taken.append(Finding(kind=kind, start=start, end=end, text=text[start:end]))
    return sorted(taken, key=lambda finding: finding.start)


def redact(text: str) -> str:
    """``text`` with each piece of personal data replaced by its placeholder (``[电话]`` ...)."""
    pieces: list[str] = []
    cursor = 0
    for finding in find_personal_data(text):
        pieces.append(text[cursor : finding.start])
        pieces.append(finding.kind.placeholder)
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)


# -- Coarser places, for what is published -------------------------------------------------------

# A house number and what follows it: 12号, 3栋, 2单元, 401室, 5号楼, 18弄, 7层.
_HOUSE_NUMBER = re.compile(
    r"[0-9０-９一二三四五六七八九十百零〇甲乙丙丁A-Za-z\-]*[0-9０-９一二三四五六七八九十百零〇]"
    r"[0-9０-９\-]*\s*(?:号楼|号院|号|栋|幢|座|单元|室|弄|层|楼|户)"
)
# An English house number at the start: "123 Main St", "12-14A Elm Street".
_LEADING_NUMBER = re.compile(r"^\s*[0-9][0-9A-Za-z\-]*\s+")
POSITION_DECIMALS = 3  # ~110 m of latitude: the block, not the door


def coarsen_address(address: str | None) -> str | None:
    """The address without house, building, unit or room numbers, and redacted; None if empty.

    ``东城区东华门大街12号3单元401室`` → ``东城区东华门大街``; ``123 Main St, Boston`` →
    ``Main St, Boston``.
    """
    if address is None:
        return None
    address = redact(address)  # first: a phone number's digits are no house number
    match = _HOUSE_NUMBER.search(address)
    kept = address[: match.start()] if match else address
    kept = _LEADING_NUMBER.sub("", kept).strip(" ,，、-")
    return kept or None


def coarsen_position(latitude: float | None, longitude: float | None) -> tuple[float | None, ...]:
    """Latitude and longitude rounded to the block (3 decimals); none stays none."""
    if latitude is None or longitude is None:
        return None, None
    return round(latitude, POSITION_DECIMALS), round(longitude, POSITION_DECIMALS)


def redact_names(text: str, names: Iterable[str | None]) -> str:
    """``text`` redacted, and each known name (a reporter's, two characters or more) removed."""
    text = redact(text)
    for name in names:
        name = (name or "").strip()
        if len(name) >= 2:
            text = text.replace(name, NAME_PLACEHOLDER)
    return text


NAME_PLACEHOLDER = "[姓名]"
