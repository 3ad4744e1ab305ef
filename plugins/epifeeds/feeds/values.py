"""Cleaning of values as agencies type them: full-width digits, thousands separators, blanks.

`typed(column, value)` is the one conversion of a value to its contract type (blank is None for every
type). `typed_column(column, values)` does the same for a whole column at once: the common shapes (a
column of plain digits, of one date, of clean ids) are recognised by C-level passes (`map`, a compiled
pattern, `min`/`max`), and only the cells those passes cannot vouch for go through `typed` one by one.
Both give the same values and the same messages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from epifeeds.feeds.contracts import Column


class ValueProblem(ValueError):
    """A value that cannot be used; the message says why, in words a data engineer can act on."""


def _clean_text(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text.replace(",", "").replace("，", "").replace(" ", "")


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number_of(value: object) -> int:
    """The whole number a non-blank value spells; raises ValueProblem for anything else."""
    if isinstance(value, bool):
        raise ValueProblem(f"{value!r} is not a count")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueProblem(f"{value!r} is not a whole number")
        return int(value)
    text = _clean_text(value)
    if len(text) > MAX_NUMBER_TEXT:
        raise ValueProblem(f"{_shown(value)} is not a count (a number of {len(text)} characters)")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        as_float = float(text)
    except ValueError:
        raise ValueProblem(f"{value!r} is not a number") from None
    if not as_float.is_integer():
        raise ValueProblem(f"{value!r} is not a whole number") from None
    return int(as_float)


def parse_count(value: object, maximum: int | None = None) -> int | None:
    """A non-negative whole count (at most `maximum`), or None when blank; raises ValueProblem otherwise."""
    if is_blank(value):
        return None
    number = _number_of(value)
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
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueProblem(f"{value!r} is not a timestamp (expected ISO 8601)") from None


def typed(column: Column, value: object) -> object:
    """The contract type of one value, None when blank (every type alike); raises ValueProblem naming the
    field. Whether a blank may stay blank (`column.required`) is the row's question, not the value's."""
    try:
        if column.pg_type == "integer":
            return parse_count(value, column.upper_bound)
        if is_blank(value):
            return None
        if column.pg_type == "date":
            return parse_date(value)
        if column.pg_type == "timestamptz":
            return parse_timestamp(value)
        return parse_text(value, column.max_length)
    except ValueProblem as problem:
        raise ValueProblem(f"field {column.name!r}: {problem}") from None


# ------------------------------------------------------------------------------------- whole columns

# Text that parse_text returns unchanged: no control character or lone surrogate (a tab is allowed inside),
# no white space at either end. Python's \s is str.isspace, the white space str.strip removes.
_CONTROL = "\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff"
_CLEAN_TEXT = re.compile(f"[^\\s{_CONTROL}](?:[^{_CONTROL}]*[^\\s{_CONTROL}])?")


def _counts_fast(column: Column, values: Sequence[Any]) -> list[int] | None:
    """A column of plain integers, or of digit strings int() reads as parse_count does; None otherwise."""
    kinds = set(map(type, values))
    if kinds == {str}:
        if max(map(len, values)) > MAX_NUMBER_TEXT:
            return None
        try:
            numbers = list(map(int, values))  # int() reads what parse_count reads for plain digits
        except ValueError:
            return None
    elif kinds == {int}:
        numbers = list(values)
    else:
        return None
    if min(numbers) < 0 or max(numbers) > column.upper_bound:
        return None
    return numbers


def _text_fast(column: Column, values: Sequence[Any]) -> list[str] | None:
    """A column of clean, non-blank strings (parse_text returns each unchanged); None otherwise."""
    if set(map(type, values)) != {str} or max(map(len, values)) > column.max_length:
        return None
    if not all(map(_CLEAN_TEXT.fullmatch, values)):
        return None
    return list(values)


def _by_distinct(column: Column, values: Sequence[Any]) -> list[Any] | None:
    """Few distinct values (a date column holds one day): each typed once. None when one is a problem.
    Keyed by type too (1, 1.0 and True are equal in a set); floats and zoned times stay out (NaN is not
    equal to itself; two equal instants in two zones print differently)."""
    kinds = set(map(type, values))
    if not kinds <= _DISTINCT_KINDS or (
        datetime in kinds and any(v.tzinfo for v in values if type(v) is datetime)
    ):
        return None
    distinct = set(zip(map(type, values), values, strict=True))
    if len(distinct) > max(8, len(values) // 8):
        return None
    try:
        known = {key: typed(column, key[1]) for key in distinct}
    except ValueProblem:
        return None
    return [known[key] for key in zip(map(type, values), values, strict=True)]


_DISTINCT_KINDS = frozenset({str, int, type(None), date, datetime})


_FAST: dict[str, Callable[[Column, Sequence[Any]], list[Any] | None]] = {
    "integer": _counts_fast,
    "text": _text_fast,
}


def typed_column(column: Column, values: Sequence[Any]) -> tuple[list[Any], dict[int, str]]:
    """Every value of a column typed as `typed` types it: (values, {position: problem}); a position with a
    problem holds None."""
    if not values:
        return [], {}
    fast = _FAST.get(column.pg_type)
    found = (fast(column, values) if fast else None) or _by_distinct(column, values)
    if found is not None:
        return found, {}
    out: list[Any] = []
    problems: dict[int, str] = {}
    for position, value in enumerate(values):
        if value is None or value == "":  # blank: None for every type, as `typed` says
            out.append(None)
            continue
        try:
            out.append(typed(column, value))
        except ValueProblem as problem:
            out.append(None)
            problems[position] = str(problem)
    return out, problems
