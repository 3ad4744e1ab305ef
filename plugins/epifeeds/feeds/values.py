"""Cleaning of single values as agencies type them: full-width digits, thousands separators, blanks."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime


class ValueProblem(ValueError):
    """A value that cannot be used; the message says why, in words a data engineer can act on."""


def _clean_text(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text.replace(",", "").replace("，", "").replace(" ", "")


def parse_count(value: object, maximum: int | None = None) -> int | None:
    """A non-negative whole count (at most `maximum`), or None when blank; raises ValueProblem otherwise."""
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
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueProblem(f"{_shown(value)} is not a count (a number of {len(text)} characters)")
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
    if maximum is not None and number > maximum:
        raise ValueProblem(
            f"{_shown(value)} is above the plausible maximum {maximum} for this count; ask the sender to check it"
        )
    return number


MAX_NUMBER_TEXT = 40  # characters: far beyond any count, well below Python's int-parsing limit


def _shown(value: object, limit: int = 60) -> str:
    """A value quoted for a message, cut to `limit` characters and with control characters escaped."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def control_characters_in(text: str) -> list[str]:
    """The NUL, control and lone-surrogate characters in `text`, as escapes (e.g. ['\\x00'])."""
    found = {c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t"}
    return sorted(c.encode("unicode_escape", "backslashreplace").decode("ascii") for c in found)


def parse_text(value: object, max_length: int = 500) -> str | None:
    """Text as sent, stripped; None when blank. Raises ValueProblem on a NUL or control character (a
    tab is allowed) or beyond `max_length` characters."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if bad := control_characters_in(text):
        raise ValueProblem(
            f"{_shown(text)} holds control character(s) {', '.join(bad)}; text may not carry NUL or control characters"
        )
    if len(text) > max_length:
        raise ValueProblem(f"{_shown(text)} is longer than {max_length} characters")
    return text


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
