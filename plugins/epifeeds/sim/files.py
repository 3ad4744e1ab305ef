"""Writing agency files byte-for-byte reproducibly: CSV in a chosen encoding, XLSX without timestamps."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook

FIXED_ZIP_TIME = (2022, 1, 1, 0, 0, 0)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, encoding: str) -> bytes:
    """A CSV as Windows exports it (CRLF), in `encoding` ("gbk", "utf-8-sig", "utf-8")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(workbook: Workbook, created: datetime) -> bytes:
    """Save a workbook with `created` as its document time and fixed zip entry times: same input, same bytes."""
    raw = io.BytesIO()
    workbook.save(raw)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data
                )
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, data)
    return out.getvalue()


def to_full_width(text: str) -> str:
    """'123' -> '１２３' (what some office software produces when an IME is left in full-width mode)."""
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
