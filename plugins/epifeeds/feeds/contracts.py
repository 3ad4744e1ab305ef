"""Feed contracts: the one home of each feed's columns, header aliases and types.

The parser, the landing DDL, the GX suite and the dbt source all derive from (or are tested against)
these declarations, so a column is added here and nowhere else first.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # "integer", "date", "timestamptz", "text"
    description: str
    required: bool = True
    aliases: tuple[str, ...] = ()  # other spellings agencies use for this field (header drift)

    @property
    def is_count(self) -> bool:
        return self.pg_type == "integer"


@dataclass(frozen=True)
class FeedContract:
    feed: str  # e.g. "district_reports"; also the landing table name
    title: str
    reporter_column: str  # the column naming who reported (resolved through the alias table)
    date_column: str
    key: tuple[str, ...]  # grain of one report, before versioning
    columns: tuple[Column, ...] = field(default_factory=tuple)

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


def _count(name: str, description: str, *aliases: str, required: bool = True) -> Column:
    return Column(name, "integer", description, required=required, aliases=aliases)


DISTRICT_REPORTS = FeedContract(
    feed="district_reports",
    title="District daily report (区县日报)",
    reporter_column="district_id",
    date_column="report_date",
    key=("district_id", "report_date"),
    columns=(
        Column(
            "district_id",
            "text",
            "Administrative code of the reporting district (or 140100 for the city bulletin), resolved from the reported name through the alias table",
        ),
        Column(
            "district_name_reported",
            "text",
            "The district name exactly as the agency spelled it",
            aliases=("district", "区县", "地区"),
        ),
        Column(
            "report_date",
            "date",
            "The local (Asia/Shanghai) day the figures describe",
            aliases=("date", "日期"),
        ),
        _count(
            "new_positives",
            "New positive cases (阳性) reported for the day; should equal confirmed + asymptomatic",
            "阳性",
            "新增阳性",
        ),
        _count("new_confirmed", "New confirmed cases (确诊)", "确诊", "新增确诊"),
        _count("new_asymptomatic", "New asymptomatic infections (无症状)", "无症状", "新增无症状"),
        _count("cumulative_confirmed", "Cumulative confirmed cases (累计确诊)", "累计确诊", required=False),
        _count("cumulative_positives", "Cumulative positive cases (累计阳性)", "累计阳性", required=False),
        _count("sealed_zones", "Sealed zones in force (封控区)", "封控区", required=False),
        _count("controlled_zones", "Controlled zones in force (管控区)", "管控区", required=False),
        _count("precaution_zones", "Precaution zones in force (防范区)", "防范区", required=False),
        _count(
            "close_contacts_identified",
            "Close contacts identified that day (密接)",
            "密接",
            "密切接触者",
            required=False,
        ),
        _count(
            "transferred_to_isolation",
            "Close contacts transferred to centralised isolation that day (转运集中隔离)",
            "转运集中隔离",
            required=False,
        ),
        _count("home_isolation", "People under home isolation (居家隔离)", "居家隔离", required=False),
        _count(
            "samples_collected",
            "Nucleic-acid samples collected (采样人次)",
            "采样人次",
            "采样人数",
            required=False,
        ),
        _count("grid_workers_on_duty", "Grid workers on duty (网格员)", "网格员", required=False),
        _count("volunteers", "Volunteers on duty (志愿者)", "志愿者", required=False),
        Column(
            "submitted_at",
            "timestamptz",
            "When the agency submitted the report (UTC)",
            required=False,
            aliases=("上报时间",),
        ),
    ),
)

CONTRACTS: dict[str, FeedContract] = {c.feed: c for c in (DISTRICT_REPORTS,)}
