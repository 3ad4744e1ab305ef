"""Rows in bulk for the loader: their change hashes, COPY's text format and array parameters, put
together a column at a time (C-level passes over each column) instead of value by value."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from hashlib import sha256
from json.encoder import encode_basestring_ascii
from typing import Any

from epifeeds.feeds.contracts import FeedContract

# Columns that describe the delivery rather than the report: a change in them is not a revision.
NOT_REVISION_COLUMNS = frozenset({"district_name_reported", "submitted_at"})


def row_hash(contract: FeedContract, row: dict[str, Any]) -> str:
    """The change hash of one row: sha256 of its material columns as JSON (the definition `row_hashes`
    reproduces in bulk; landed hashes are compared with it, so it never changes)."""
    ignored = NOT_REVISION_COLUMNS | contract.not_revision_columns
    material = {c.name: row.get(c.name) for c in contract.columns if c.name not in ignored}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _json_column(values: list[Any]) -> list[str]:
    """Each value as json.dumps(value, default=str) writes it, a column at a time."""
    kinds = set(map(type, values))
    if kinds <= {int, type(None)}:
        return ["null" if value is None else int.__repr__(value) for value in values]
    if kinds <= {str, type(None)}:
        return ["null" if value is None else encode_basestring_ascii(value) for value in values]
    if kinds <= {date, type(None)}:
        return ["null" if value is None else f'"{value}"' for value in values]
    return [json.dumps(value, default=str) for value in values]


def row_hashes(contract: FeedContract, rows: list[dict[str, Any]]) -> list[str]:
    """`row_hash` of every row, equal to it hash for hash: the JSON text is put together column-wise."""
    ignored = NOT_REVISION_COLUMNS | contract.not_revision_columns
    names = sorted(c.name for c in contract.columns if c.name not in ignored)
    template = "{" + ", ".join(f"{encode_basestring_ascii(name)}: %s" for name in names) + "}"
    columns = [_json_column([row.get(name) for row in rows]) for name in names]
    return [sha256((template % texts).encode()).hexdigest() for texts in zip(*columns, strict=True)]


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_TEXT: dict[type, Any] = {
    int: int.__repr__,
    str: str,
    date: date.isoformat,
    datetime: datetime.isoformat,
}
_COPY_SPECIAL = re.compile(r"[\\\n\r\t]")


def array_literal(values: tuple[Any, ...] | list[Any]) -> str:
    """A Postgres array literal of text, dates or ints ('{"a","b"}'), for an `%s::<type>[]` parameter:
    one string instead of psycopg adapting each element in Python."""
    quoted = (str(value).replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{text}"' for text in quoted) + "}"


def copy_text(columns: list[list[Any]]) -> bytes | None:
    """Rows, given as columns, in COPY's text format (tab-separated, \\N for null, \\ \\n \\r \\t escaped);
    None when a column holds a type other than int, str, date, datetime or None."""
    texts = []
    for values in columns:
        kinds = set(map(type, values)) - {type(None)}
        if not kinds <= _COPY_TEXT.keys():
            return None
        if (
            values and values.count(values[0]) == len(values) and values[0] is not None
        ):  # one value throughout
            text = [_COPY_TEXT[type(values[0])](values[0])] * len(values)
        else:
            text = [_COPY_TEXT[type(v)](v) if v is not None else "\\N" for v in values]
        if str in kinds and _COPY_SPECIAL.search("".join(v for v in values if type(v) is str)):
            text = [
                t.translate(_COPY_ESCAPES) if type(v) is str else t for t, v in zip(text, values, strict=True)
            ]
        texts.append(text)
    return "".join(f"{line}\n" for line in map("\t".join, zip(*texts, strict=True))).encode()
