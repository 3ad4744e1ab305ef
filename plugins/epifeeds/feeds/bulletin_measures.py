"""What city bulletins publish, as one catalogue of measures, and the long landing table that carries them.

A bulletin publishes far more than the district-report contract holds: deaths, recoveries and
discharges, medical observation, severe and critical cases, local vs imported, found in closed-loop
management vs community screening, daily and cumulative. Each recognised column lands as one row of
`landing.bulletin_measures` (reporter × report date × measure, versioned like every landing table).

A header is recognised by its label after folding width, case and spaces. City columns use the whole
label (`累计治愈出院`); district columns are `{区}_{label}[_{qualifier}]` (`朝阳区_阳性_来自闭环隔离`), where
the qualifier says where the cases were found. District figures count local cases (imported cases are
not attributed to a district), so `{区}_阳性` is the district's `new_positives`.
"""

from __future__ import annotations

from epifeeds.feeds.contracts import Column, FeedContract
from epifeeds.feeds.names import normalise_label

# measure -> the labels bulletins use for it (city columns, whole header).
CITY_MEASURES: dict[str, tuple[str, ...]] = {
    "new_positives": ("阳性感染者", "新增阳性感染者", "新增阳性"),
    "new_confirmed": ("确诊病例", "新增确诊病例", "新增确诊"),
    "new_asymptomatic": ("无症状感染者", "新增无症状感染者", "新增无症状"),
    "new_confirmed_mild": ("轻型",),
    "new_confirmed_moderate": ("普通型",),
    "new_confirmed_severe": ("重型",),
    "new_confirmed_critical": ("危重型",),
    "new_deaths": ("死亡", "新增死亡", "死亡病例"),
    "new_recovered": ("治愈出院", "新增治愈出院", "新增出院", "出院"),
    "released_from_observation": ("解除医学观察", "当日解除医学观察"),
    "under_observation": ("尚在医学观察", "尚在接受医学观察"),
    "new_local_positives": ("本土阳性感染者", "本土新增阳性"),
    "new_local_confirmed": ("本土确诊病例", "本土新增确诊"),
    "new_local_asymptomatic": ("本土无症状感染者", "本土新增无症状"),
    "new_positives_closed_loop": ("从闭环隔离中发现的阳性感染者", "闭环管控中发现阳性感染者"),
    "new_positives_community": (
        "从风险人群中发现的阳性感染者",
        "社区筛查发现阳性感染者",
        "社会面发现阳性感染者",
    ),
    "new_confirmed_from_asymptomatic": ("从无症状感染者转归确诊的病例", "无症状感染者转确诊"),
    "new_local_confirmed_closed_loop": ("从闭环隔离中发现的本土病例",),
    "new_local_confirmed_community": ("从风险人群中发现的本土病例",),
    "new_asymptomatic_closed_loop": ("从闭环隔离中发现的无症状感染者",),
    "new_asymptomatic_community": ("从风险人群中发现的无症状感染者",),
    "new_local_discharged": ("本土病例出院", "本土出院"),
    "local_released_from_observation": ("本土解除医学观察",),
    "new_local_deaths": ("本土死亡病例", "本土死亡"),
    "local_under_observation": ("本土尚在医学观察",),
    "new_imported_positives": ("境外输入阳性感染者",),
    "new_imported_confirmed": ("境外输入病例", "境外输入确诊病例"),
    "new_imported_asymptomatic": ("境外输入无症状感染者",),
    "new_imported_discharged": ("境外输入病例出院", "境外输入出院"),
    "imported_released_from_observation": ("境外输入解除医学观察",),
    "new_imported_deaths": ("境外输入死亡",),
    "imported_under_observation": ("境外输入尚在医学观察",),
    "current_severe": ("当前重症病例", "现有重症"),
    "current_critical": ("当前危重症病例", "现有危重症"),
    "current_hospitalised": ("当前在院治疗", "现有确诊"),
    "current_local_hospitalised": ("当前本土在院治疗",),
    "current_imported_hospitalised": ("当前境外输入在院治疗",),
    "cumulative_positives": ("累计阳性感染者", "累计阳性"),
    "cumulative_confirmed": ("累计确诊病例", "累计确诊"),
    "cumulative_asymptomatic": ("累计无症状感染者", "累计无症状"),
    "cumulative_local_positives": ("累计本土阳性感染者", "累计本土阳性"),
    "cumulative_local_confirmed": ("累计本土确诊", "累计本土确诊病例"),
    "cumulative_recovered": ("累计治愈出院", "累计出院"),
    "cumulative_deaths": ("累计死亡", "累计死亡病例"),
    "cumulative_local_deaths": ("累计本土死亡",),
    "cumulative_imported_confirmed": ("累计境外输入确诊病例", "累计境外输入"),
    "cumulative_imported_recovered": ("累计境外输入治愈出院",),
    "cumulative_released_from_observation": ("累计解除医学观察",),
}
# District columns: `{区}_{label}`; the label names the base measure ...
DISTRICT_MEASURES: dict[str, tuple[str, ...]] = {
    "new_positives": ("阳性", "新增阳性", "阳性感染者"),
    "new_confirmed": ("确诊", "新增确诊", "确诊病例"),
    "new_asymptomatic": ("无症状", "新增无症状", "无症状感染者"),
    "new_deaths": ("死亡", "新增死亡"),
    "new_recovered": ("治愈出院", "出院", "新增出院"),
    "cumulative_positives": ("累计阳性", "累计阳性感染者"),
    "cumulative_confirmed": ("累计确诊", "累计确诊病例"),
    "cumulative_asymptomatic": ("累计无症状",),
    "cumulative_recovered": ("累计治愈出院", "累计出院"),
    "cumulative_deaths": ("累计死亡",),
}
# ... and an optional qualifier where the cases were found.
QUALIFIERS: dict[str, tuple[str, ...]] = {
    "closed_loop": ("来自闭环隔离", "闭环", "闭环管控", "来自闭环管控"),
    "community": ("来自风险人群", "社区筛查", "社会面", "来自社会面"),
    "from_asymptomatic": ("来自无症状感染者", "无症状转确诊"),
}
# Each cumulative measure and the daily increment it grows by (rules I2 and I5).
CUMULATIVE_OF: dict[str, str] = {
    "cumulative_positives": "new_positives",
    "cumulative_confirmed": "new_confirmed",
    "cumulative_asymptomatic": "new_asymptomatic",
    "cumulative_local_positives": "new_local_positives",
    "cumulative_local_confirmed": "new_local_confirmed",
    "cumulative_recovered": "new_recovered",
    "cumulative_deaths": "new_deaths",
    "cumulative_local_deaths": "new_local_deaths",
    "cumulative_imported_confirmed": "new_imported_confirmed",
    "cumulative_imported_recovered": "new_imported_discharged",
    "cumulative_released_from_observation": "released_from_observation",
}

_CITY_LOOKUP = {normalise_label(label): m for m, labels in CITY_MEASURES.items() for label in labels}
_DISTRICT_LOOKUP = {normalise_label(label): m for m, labels in DISTRICT_MEASURES.items() for label in labels}
_QUALIFIER_LOOKUP = {normalise_label(label): q for q, labels in QUALIFIERS.items() for label in labels}


def city_measure_of(header: str) -> str | None:
    """The measure a city column carries, e.g. '累计治愈出院' → 'cumulative_recovered'."""
    return _CITY_LOOKUP.get(normalise_label(header))


def district_measure_of(label: str) -> str | None:
    """The measure of a district column's label (after `{区}_`): '阳性_来自闭环隔离' → 'new_positives_closed_loop'."""
    base, _, qualifier = label.partition("_")
    measure = _DISTRICT_LOOKUP.get(normalise_label(base))
    if measure is None:
        return None
    if not qualifier:
        return measure
    found = _QUALIFIER_LOOKUP.get(normalise_label(qualifier))
    return f"{measure}_{found}" if found else None


def counterpart_of(measure: str) -> str | None:
    """A cumulative's daily increment, or a daily's cumulative."""
    if measure in CUMULATIVE_OF:
        return CUMULATIVE_OF[measure]
    return next((c for c, daily in CUMULATIVE_OF.items() if daily == measure), None)


BULLETIN_MEASURES = FeedContract(
    feed="bulletin_measures",
    title="Published bulletin measures, long (区县/城市 × 日期 × 指标)",
    reporter_column="reporter_id",
    date_column="report_date",
    key=("reporter_id", "report_date", "measure"),
    columns=(
        Column("reporter_id", "text", "District or city code (GB/T 2260) the figure is published for"),
        Column("jurisdiction_id", "text", "The city whose bulletin published the figure"),
        Column("report_date", "date", "The local (Asia/Shanghai) day the figure describes"),
        Column("measure", "text", "The measure, from the bulletin catalogue (e.g. cumulative_recovered)"),
        Column("value", "integer", "The published figure; null when the cell is blank", required=False),
        Column(
            "is_published",
            "boolean",
            "False when the reporter does not publish the measure in this file (rule N1: blank, or all"
            " zeros while its counterpart moves); identity rules skip it",
        ),
        Column("source_header", "text", "The bulletin's column header the figure came from"),
    ),
    not_revision_columns=frozenset({"source_header"}),
)
