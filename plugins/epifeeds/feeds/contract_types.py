"""What a feed contract is: its columns (type, aliases, bounds) and the report's grain, versioning and
orderings. The contracts themselves are declared in `contracts.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

# No daily count of a city's (or a province's) response comes near 100 million; Postgres' integer
# holds 2147483647, so a value past this bound is refused as a row, not by the database mid-COPY.
PLAUSIBLE_COUNT_MAX = 100_000_000


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # "integer", "date", "timestamptz", "text"
    description: str
    required: bool = True
    aliases: tuple[str, ...] = ()  # other spellings agencies use for this field (header drift)
    accepted_values: tuple[str, ...] = ()  # a closed vocabulary (e.g. a registry's status), checked by GX
    # Bounds (rule V1): a count above its plausible maximum, or text longer than max_length or holding a
    # NUL or control character, makes its row a reject with the reason; it never fails a load.
    max_value: int = 0  # 0: PLAUSIBLE_COUNT_MAX
    max_length: int = 500

    @property
    def is_count(self) -> bool:
        return self.pg_type == "integer"

    @property
    def upper_bound(self) -> int:
        """The largest count this column may hold (counts only)."""
        return self.max_value or PLAUSIBLE_COUNT_MAX


@dataclass(frozen=True)
class FeedContract:
    feed: str  # e.g. "district_reports"; also the landing table name
    title: str
    reporter_column: str  # the column naming who reported (resolved through the alias table)
    date_column: str
    key: tuple[str, ...]  # grain of one report, before versioning
    columns: tuple[Column, ...] = field(default_factory=tuple)
    # Columns that describe the delivery rather than the report (a name's spelling, a snapshot date): a
    # change in them alone is not a revision, so they stay out of the row hash.
    not_revision_columns: frozenset[str] = frozenset()
    # Orderings within a row (rule V2): each chain reads a <= b <= c, e.g. positive tubes <= tubes <= samples.
    orderings: tuple[tuple[str, ...], ...] = ()

    @property
    def landing_table(self) -> str:
        return f"landing.{self.feed}"

    @property
    def count_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.is_count]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def header_lookup(self) -> dict[str, str]:
        """Every accepted spelling of a field, normalised, mapped to the contract's column name."""
        from epifeeds.feeds.names import normalise_label

        lookup: dict[str, str] = {}
        for column in self.columns:
            for label in (column.name, *column.aliases):
                lookup[normalise_label(label)] = column.name
        return lookup
