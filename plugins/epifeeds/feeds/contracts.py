"""Feed contracts: the one home of each feed's columns, header aliases and types.

The parser, the landing DDL, the GX suite and the dbt source all derive from (or are tested against)
these declarations, so a column is added here and nowhere else first.
"""

from __future__ import annotations

from epifeeds.feeds.contract_types import PLAUSIBLE_COUNT_MAX, Column, FeedContract

# What a contract is lives in contract_types; importers keep reading it from here.
__all__ = [
    "CONTRACTS",
    "DISTRICT_REPORTS",
    "HOTEL_CHECK_INS",
    "HOTEL_REPORTS",
    "ISOLATION_HOTELS",
    "PLAUSIBLE_COUNT_MAX",
    "TESTING_SITES",
    "TESTING_SITE_REPORTS",
    "Column",
    "FeedContract",
]


def _typed(pg_type: str):
    """A column of one type, declared as (name, description, *aliases) like the contracts below read."""

    def column(name: str, description: str, *aliases: str, required: bool = True, accepted=()) -> Column:
        return Column(name, pg_type, description, required, aliases, accepted)

    return column


_count, _text, _date, _timestamp = (_typed(t) for t in ("integer", "text", "date", "timestamptz"))


def _daily_report(feed: str, title: str, reporter_column: str, key_extra=(), **declared) -> FeedContract:
    """A report per reporter and local day (report_date), and per `key_extra` within it."""
    key = (reporter_column, "report_date", *key_extra)
    return FeedContract(feed, title, reporter_column, "report_date", key, **declared)


DISTRICT_REPORTS = _daily_report(
    "district_reports",
    "District daily report (区县日报)",
    "district_id",
    columns=(
        _text(
            "district_id",
            "Administrative code of the reporting district (or 140100 for the city bulletin), resolved from the reported name through the alias table",
        ),
        _text(
            "district_name_reported",
            "The district name exactly as the agency spelled it",
            "district",
            "区县",
            "地区",
        ),
        _date("report_date", "The local (Asia/Shanghai) day the figures describe", "date", "日期"),
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
        _timestamp("submitted_at", "When the agency submitted the report (UTC)", "上报时间", required=False),
    ),
)


# The header spellings below are the ones district offices and hotels actually send (the simulator writes
# them, header drift included: 采样人数 for 采样人次); the parsers match them after normalise_label, so
# full-width brackets and spaces do not matter.

TESTING_SITE_REPORTS = _daily_report(
    "testing_site_reports",
    "Testing-site daily report (采样点日报)",
    "site_id",
    columns=(
        _text(
            "site_id",
            "Registry id of the nucleic-acid testing site (采样点编号), e.g. TS1401050001; must be in the testing_sites registry",
            "采样点编号",
            "采样点代码",
            "点位编号",
            "site",
        ),
        _text(
            "site_name_reported",
            "The site's name exactly as the district's file spelled it (采样点名称)",
            "采样点名称",
            "采样点",
            "site_name",
            required=False,
        ),
        _text(
            "district_id",
            "District the site belongs to per the testing_sites registry; the file it came in is that district's",
        ),
        _date(
            "report_date",
            "The local (Asia/Shanghai) day the figures describe (日期)",
            "日期",
            "采样日期",
            "date",
        ),
        _count(
            "pool_size",
            "Samples pooled per tube (混采模式: 10混1 -> 10, 20混1 -> 20, 单采 -> 1); blank when the file does not say",
            "混采模式",
            "混采",
            "pooling",
            required=False,
        ),
        _count(
            "samples_collected",
            "Samples collected at the site that day (采样人次; some offices head it 采样人数)",
            "采样人次",
            "采样人数",
            "采样数",
            "samples",
        ),
        _count(
            "tubes", "Sample tubes filled (采管数): about samples / pool size", "采管数", "采样管数", "管数"
        ),
        _count(
            "tubes_sent_to_lab",
            "Tubes sent to the laboratory (送检管数)",
            "送检管数",
            "送检数",
            required=False,
        ),
        _count(
            "positive_tubes",
            "Tubes that tested positive (阳性管数); blank while the lab results are pending (they usually arrive a day later, in a resubmitted file)",
            "阳性管数",
            "阳性数",
            "阳性",
            required=False,
        ),
    ),
    not_revision_columns=frozenset({"site_name_reported"}),
    orderings=(("positive_tubes", "tubes_sent_to_lab", "tubes", "samples_collected"),),
)

HOTEL_REPORTS = _daily_report(
    "hotel_reports",
    "Isolation-hotel daily report (隔离点日报)",
    "hotel_id",
    columns=(
        _text(
            "hotel_id",
            "Registry id of the isolation hotel (隔离点编号), e.g. H140105001; must be in the isolation_hotels registry",
            "隔离点编号",
            "酒店编号",
        ),
        _text(
            "hotel_name_reported",
            "The hotel's name exactly as its report spelled it (隔离点名称)",
            "隔离点名称",
            "酒店名称",
            "hotel_name",
            required=False,
        ),
        _text("district_id", "District the hotel stands in, per the isolation_hotels registry"),
        _date("report_date", "The local (Asia/Shanghai) day the figures describe (日期)", "日期", "date"),
        _count("rooms_total", "Rooms the hotel has for isolation (房间总数)", "房间总数", "房间数"),
        _count(
            "rooms_occupied",
            "Rooms in use at the end of the day (已用房间)",
            "已用房间",
            "已用房间数",
            "使用房间数",
        ),
        _count(
            "guests",
            "People in isolation at the hotel at the end of the day (在住人数)",
            "在住人数",
            "在住人员",
        ),
        _count(
            "check_ins",
            "People who checked in that day (新入住), all source districts together; by district in hotel_check_ins",
            "新入住",
            "新入住人数",
            "入住人数",
        ),
        _count(
            "check_outs",
            "People released from isolation that day (解除隔离)",
            "解除隔离",
            "解除隔离人数",
            "离店人数",
        ),
        _count("staff", "Staff on duty at the hotel (工作人员)", "工作人员", "工作人员数", required=False),
        _timestamp(
            "submitted_at",
            "When the hotel submitted the report (UTC), where the format says (JSON); blank for XLSX",
            "上报时间",
            required=False,
        ),
    ),
    not_revision_columns=frozenset({"hotel_name_reported"}),
    orderings=(("rooms_occupied", "rooms_total"),),
)

HOTEL_CHECK_INS = _daily_report(
    "hotel_check_ins",
    "Isolation-hotel check-ins by source district (新入住人员来源)",
    "hotel_id",
    key_extra=("source_district_id",),
    columns=(
        _text(
            "hotel_id",
            "Registry id of the isolation hotel that reported the check-ins",
            "隔离点编号",
            "酒店编号",
        ),
        _date("report_date", "The local (Asia/Shanghai) day the check-ins happened", "日期", "date"),
        _text(
            "source_district_id",
            "District the guests were transferred from, resolved from the column header (XLSX) or key (JSON) "
            "through the district alias table",
        ),
        _text(
            "source_district_name_reported",
            "The source district's name exactly as the hotel wrote it",
            required=False,
        ),
        _count(
            "check_ins",
            "People from that district who checked in that day (0 where the hotel lists none): the group "
            "header 新入住人员来源（区县） over one column per district, or the JSON object check_ins_by_district",
            "新入住人员来源（区县）",
            "新入住人员来源",
            "入住人员来源",
            "check_ins_by_district",
        ),
    ),
    not_revision_columns=frozenset({"source_district_name_reported"}),
)


def _registry_district(how: str) -> tuple[Column, Column]:
    """A registry entry's district: its code (or its name resolved), and the name as spelled."""
    return (
        _text(
            "district_id",
            f"District {how}: the registry's district code, or its district name resolved through the "
            "district alias table",
            "区县编码",
        ),
        _text(
            "district_name_reported",
            "The district name exactly as the registry spelled it",
            "district_name",
            "区县",
            "所属区县",
            required=False,
        ),
    )


def _registry_snapshot(entry: str, statuses: tuple[str, str]) -> tuple[Column, Column]:
    """A registry entry's status on the snapshot's as-of date, and that date."""
    return (
        _text(
            "status",
            f"{statuses[0]} or {statuses[1]} on the registry's as-of date",
            "状态",
            accepted=statuses,
        ),
        _date(
            "registry_as_of",
            f"As-of date of the registry snapshot in which this version of the {entry} first appeared",
            "as_of",
        ),
    )


def _registry(feed: str, title: str, id_column: str, **declared) -> FeedContract:
    """A registry: one entry per id, versioned by snapshot. An entry re-sent with only its spelling of a
    district or its as-of date changed holds no revision."""
    unchanged = frozenset({"district_name_reported", "registry_as_of"})
    return FeedContract(
        feed, title, id_column, "registry_as_of", (id_column,), not_revision_columns=unchanged, **declared
    )


TESTING_SITES = _registry(
    "testing_sites",
    "Testing-site registry (核酸采样点名录)",
    "site_id",
    columns=(
        _text("site_id", "Registry id of the testing site (采样点编号)", "采样点编号", "采样点代码"),
        _text("site_name", "The site's registered name (采样点名称)", "采样点名称"),
        *_registry_district("the site belongs to"),
        _text("street_id", "Street (街道/镇) code of the site", "街道编码", required=False),
        _text("street_name", "Street (街道/镇) the site is in", "街道", "所属街道", required=False),
        _text("community_name", "Community (社区/村) the site serves", "社区", "所属社区", required=False),
        _date("opened_on", "First day the site operated", "启用日期", "开放日期"),
        _date(
            "closed_on",
            "First day the site no longer operated; blank while it is open. A site reports on day d when "
            "opened_on <= d < closed_on",
            "停用日期",
            "关闭日期",
            required=False,
        ),
        *_registry_snapshot("site", ("open", "closed")),
    ),
    orderings=(("opened_on", "closed_on"),),
)

ISOLATION_HOTELS = _registry(
    "isolation_hotels",
    "Isolation-hotel registry (集中隔离酒店名录)",
    "hotel_id",
    columns=(
        _text("hotel_id", "Registry id of the isolation hotel (隔离点编号)", "隔离点编号", "酒店编号"),
        _text("hotel_name", "The hotel's registered name (隔离点名称)", "隔离点名称", "酒店名称"),
        *_registry_district("the hotel stands in"),
        _text("street_name", "Street (街道/镇) the hotel is in", "街道", "所属街道", required=False),
        _count("rooms", "Rooms requisitioned for isolation (房间数)", "房间数", "房间总数"),
        _count(
            "capacity",
            "Guests the hotel can hold (single rooms plus family rooms for two)",
            "容量",
            "可容纳人数",
        ),
        _count("staff", "Staff assigned to the hotel (工作人员)", "工作人员", required=False),
        _date(
            "requisitioned_from",
            "First day the hotel was requisitioned as an isolation site",
            "征用日期",
            "启用日期",
        ),
        _date(
            "requisitioned_to",
            "First day the hotel was no longer used; blank while in use. A hotel reports on day d when "
            "requisitioned_from <= d < requisitioned_to",
            "解除征用日期",
            required=False,
        ),
        _text("report_format", "How the hotel sends its daily report: xlsx or json", required=False),
        *_registry_snapshot("hotel", ("requisitioned", "released")),
    ),
    orderings=(("rooms", "capacity"), ("requisitioned_from", "requisitioned_to")),
)

CONTRACTS: dict[str, FeedContract] = {
    c.feed: c
    for c in (
        DISTRICT_REPORTS,
        TESTING_SITE_REPORTS,
        HOTEL_REPORTS,
        HOTEL_CHECK_INS,
        TESTING_SITES,
        ISOLATION_HOTELS,
    )
}
