"""Shared steps of the file feeds' parsers: typed values per contract column, header mapping, the
registries' reporters, and a ParseResult that also says what the parser noticed about the file."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from epifeeds.feeds.contracts import PLAUSIBLE_COUNT_MAX, FeedContract
from epifeeds.feeds.names import DistrictRoster, normalise_label
from epifeeds.feeds.parsing import ParseResult, UnreadablePayload
from epifeeds.feeds.tabular import HeaderCell
from epifeeds.feeds.values import (
    ValueProblem,
    control_characters_in,
    parse_count,
    typed,
)
from epifeeds.settings import REPORT_TIMEZONE


@dataclass(frozen=True)
class HeaderReport:
    """What a file's header had against its contract. Parsing reports it; rule S1 judges it."""

    matched: dict[str, str]  # contract column -> the label as written
    unknown: list[str]  # labels no spelling of the contract matches
    missing_required: list[str]  # contract columns the header lacks (derived ones excepted)
    missing_optional: list[str]
    measures: list[str]  # the contract's count columns (measures), to tell an emptied measure

    def as_dict(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "unknown": self.unknown,
            "missing_required": self.missing_required,
            "missing_optional": self.missing_optional,
            "measures": self.measures,
        }


def header_report(
    contract: FeedContract,
    header: list[HeaderCell],
    mapping: dict[int, str],
    unmatched: list[str],
    derived: set[str],
) -> HeaderReport:
    """Matched, unknown and missing columns of a file's header (the derived columns are never missing)."""
    matched = {
        name: (header[i].sub if header[i].sub == header[i].top else f"{header[i].top}/{header[i].sub}")
        for i, name in mapping.items()
    }
    missing = [c for c in contract.columns if c.name not in matched and c.name not in derived]
    return HeaderReport(
        matched=matched,
        unknown=list(unmatched),
        missing_required=[c.name for c in missing if c.required],
        missing_optional=[c.name for c in missing if not c.required],
        measures=contract.count_columns,
    )


@dataclass
class FileParseResult(ParseResult):
    notes: list[str] = field(default_factory=list)  # appended to the batch's message by the loader
    header: HeaderReport | None = None  # what the header had against the contract (rule S1 reads it)


class StreamedFileParse(FileParseResult):
    """A file's parse whose rows are read as its pieces are taken, so a large file is never held whole:
    the loader takes `chunks()` once; `collect()` gathers every piece for everyone else. Notes found on the
    way (a totals row, blank rows) are complete once the pieces have all been taken."""

    def __init__(self, notes: list[str], header: HeaderReport | None) -> None:
        super().__init__(notes=notes, header=header)
        self.pieces: Iterator[ParseResult] = iter(())
        self._taken = 0

    @property
    def rows_read(self) -> int:
        return self._taken + len(self.rows) + len(self.rejects)

    def chunks(self) -> Iterator[ParseResult]:
        if self.rows or self.rejects:  # gathered already (`collect`)
            yield ParseResult(self.rows, self.rejects)
        for piece in self.pieces:
            self._taken += piece.rows_read
            yield piece

    def collect(self) -> StreamedFileParse:
        for piece in self.pieces:
            self.rows.extend(piece.rows)
            self.rejects.extend(piece.rejects)
        return self


class RegistryMissing(RuntimeError):
    """A report feed cannot check its reporters because their registry has never been landed."""


@dataclass(frozen=True)
class RegisteredReporter:
    """A site or hotel as its registry's latest version has it."""

    reporter_id: str
    district_id: str
    active_from: date
    active_to: date | None  # first day no longer active


def local_date(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(REPORT_TIMEZONE)).date()


def clean_id(value: object) -> str:
    """An id as typed: full-width forms folded, spaces dropped, upper-case (ts140105 == ＴＳ１４０１０５).
    Raises ValueProblem for an id holding a NUL or control character."""
    if value is None:
        return ""
    text = "".join(unicodedata.normalize("NFKC", str(value)).split()).upper()
    if bad := control_characters_in(text):
        raise ValueProblem(f"id {text[:40]!r} holds control character(s) {', '.join(bad)}")
    if len(text) > MAX_ID_LENGTH:
        raise ValueProblem(f"id {text[:40]!r}... is longer than {MAX_ID_LENGTH} characters")
    return text


MAX_ID_LENGTH = 64
_CLEAN_ID = re.compile(r"[0-9A-Z_.\-]{1,64}")  # ids clean_id returns unchanged


def clean_id_column(values: Sequence[Any]) -> tuple[list[str], dict[int, str]]:
    """`clean_id` of every value: (ids, {position: problem}); a position with a problem holds ''."""
    if set(map(type, values)) == {str} and all(map(_CLEAN_ID.fullmatch, values)):
        return list(values), {}
    ids: list[str] = []
    problems: dict[int, str] = {}
    for position, value in enumerate(values):
        try:
            ids.append(clean_id(value))
        except ValueProblem as problem:
            ids.append("")
            problems[position] = str(problem)
    return ids, problems


def typed_value(contract: FeedContract, name: str, value: object) -> object:
    """The contract type of one value (None when blank); raises ValueProblem naming the field."""
    return typed(contract.column(name), value)


POOL_PATTERN = re.compile(r"^(\d+)\s*(?:混|合)\s*1$")


def parse_pool_size(value: object) -> int | None:
    """10混1 -> 10, 20混1 -> 20, 单采 -> 1, a bare number -> itself; blank -> None."""
    if value is None or not str(value).strip():
        return None
    text = "".join(unicodedata.normalize("NFKC", str(value)).split())
    if text in ("单采", "单管", "1:1"):
        return 1
    if (found := POOL_PATTERN.match(text)) and len(found.group(1)) <= 6:
        return int(found.group(1))
    try:
        return parse_count(text, PLAUSIBLE_COUNT_MAX)
    except ValueProblem:
        raise ValueProblem(
            f"field 'pool_size': {value!r} is not a pooling mode (expected e.g. 10混1, 20混1 or 单采)"
        ) from None


def pool_size_column(values: Sequence[Any]) -> tuple[list[int | None], dict[int, str]]:
    """`parse_pool_size` of every value, each distinct value read once (a file has two or three)."""
    known: dict[tuple[type, Any], tuple[int | None, str | None]] = {}
    sizes: list[int | None] = []
    problems: dict[int, str] = {}
    for position, value in enumerate(values):
        key = (type(value), value)
        if key not in known:
            try:
                known[key] = (parse_pool_size(value), None)
            except ValueProblem as problem:
                known[key] = (None, str(problem))
        size, problem = known[key]
        sizes.append(size)
        if problem is not None:
            problems[position] = problem
    return sizes, problems


def map_header(header: list[HeaderCell], lookup: Mapping[str, str]) -> tuple[dict[int, str], list[str]]:
    """Column index -> contract column for every header cell a spelling matches; plus the unmatched labels.
    When two columns match the same field, the first one wins."""
    mapping: dict[int, str] = {}
    unmatched: list[str] = []
    for index, cell in enumerate(header):
        name = next((lookup[n] for label in cell.labels() if (n := normalise_label(label)) in lookup), None)
        if name is None or name in mapping.values():
            if cell.sub or cell.top:
                unmatched.append(cell.sub if cell.sub == cell.top else f"{cell.top}/{cell.sub}")
            continue
        mapping[index] = name
    return mapping, unmatched


def require_columns(contract: FeedContract, found: set[str], derived: set[str], what: str) -> None:
    """Quarantine a file whose header lacks a required field (the file is not in the feed's layout)."""
    missing = [c for c in contract.columns if c.required and c.name not in found | derived]
    if missing:
        spelled = "; ".join(f"{c.name} ({' / '.join(c.aliases[:3]) or c.name})" for c in missing)
        raise UnreadablePayload(
            f"{what}: the header has no column for the required field(s) {spelled}; if the sender renamed a "
            "header, add the spelling to the contract's aliases in plugins/epifeeds/feeds/contracts.py, "
            "otherwise ask for the standard layout"
        )


def resolve_district(roster: DistrictRoster, label: str | None) -> str | None:
    """A district code as given, or a district name through the alias table; None when neither matches."""
    if label is None or not str(label).strip():
        return None
    text = clean_id(label)
    if any(d.district_id == text for d in roster.districts):
        return text
    return roster.resolve(str(label))


def load_registered(conn: psycopg.Connection, registry: FeedContract) -> dict[str, RegisteredReporter]:
    """The latest version of every reporter in a landed registry (landing.testing_sites / isolation_hotels)."""
    id_column = registry.key[0]
    active_from, active_to = (
        ("opened_on", "closed_on")
        if registry.feed == "testing_sites"
        else ("requisitioned_from", "requisitioned_to")
    )
    found = conn.execute(
        f"select {id_column}, district_id, {active_from}, {active_to} from {registry.landing_table}__current"
        f" order by {id_column}"
    ).fetchall()
    if not found:
        raise RegistryMissing(
            f"{registry.landing_table} is empty: reports cannot be checked against the {registry.feed} registry. "
            f"Run the ingest_registries DAG first (it reads EPIFEEDS_REGISTRY_URL), then re-run this ingest"
        )
    return {row[0]: RegisteredReporter(*row) for row in found}


def outcome_record(feed: str, reporter: str, report_date: date, source_uri: str, outcome: Any) -> dict:
    """What a task returns (and Airflow keeps as XCom) for one delivery."""
    return {
        "feed": feed,
        "reporter": reporter,
        "report_date": report_date.isoformat(),
        "source_uri": source_uri,
        "batch_id": outcome.batch_id,
        "status": outcome.status,
        "is_repeat": outcome.is_repeat,
        "rows_read": outcome.rows_read,
        "rows_landed": outcome.rows_landed,
        "rows_rejected": outcome.rows_rejected,
        "rows_new_versions": outcome.rows_new_versions,
        "message": outcome.message,
    }
