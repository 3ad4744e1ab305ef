"""Cleaning of single values as agencies type them: full-width digits, thousands separators, blanks."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime


class ValueProblem(ValueError):
    """A value that cannot be used; the message says why, in words a data engineer can act on."""


def _clean_text(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text.replace(",", "").replace("，", "").replace(" ", "")


def parse_count(value: object) -> int | None:
    """A non-negative whole count, or None when blank; raises ValueProblem otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a count")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueProblem(f"{value!r} is not a whole number")
        number = int(value)
    else:
        text = _clean_text(value)
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                raise ValueProblem(f"{value!r} is not a number") from None
            if not as_float.is_integer():
                raise ValueProblem(f"{value!r} is not a whole number") from None
            number = int(as_float)
    if number < 0:
        raise ValueProblem(f"{value!r} is negative; counts cannot be below zero")
    return number


def parse_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _clean_text(value).replace("/", "-").replace(".", "-")
    for suffix in ("日",):
        text = text.removesuffix(suffix)
    text = text.replace("年", "-").replace("月", "-")
    try:
        return date.fromisoformat("-".join(part.zfill(2) for part in text.split("-")))
    except ValueError:
        raise ValueProblem(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def parse_timestamp(value: object) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueProblem(f"{value!r} is not a timestamp (expected ISO 8601)") from None
