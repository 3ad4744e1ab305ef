{#
    The incremental window of a model keyed by report date, as a predicate on `date_column`: the last
    `lookback_days` report dates before the latest one the model holds (late and revised reports
    replace their rows), plus any older report date that got a version since the model's newest
    `loaded_at` (a backfill, a late correction). An empty model is built in full.

    At run time both are looked up first and the predicate is written with constants, so Postgres
    applies it inside the landing view `<feed>__current` (a filter on a DISTINCT ON key column is
    pushed below the ranking): a build ranks only the dates it rebuilds, not every version in
    history. In a unit test (`this` is a fixture) and at parse time the same window is SQL.
    `report_versions` is a staging model with one row per landed version (`report_date`, `loaded_at`).
#}
{% macro report_dates_to_rebuild(report_versions, date_column='report_date') -%}
    {%- set lookback_days = var('lookback_days') | int -%}
    {%- if not execute or this is string -%}
        (
            not exists (select 1 as is_built from {{ this }})
            or {{ date_column }} >= (
                select max(built.report_date) - {{ lookback_days }} as rebuild_from_date
                from {{ this }} as built
            )
            or {{ date_column }} in (
                select report_versions.report_date
                from {{ report_versions }} as report_versions
                where report_versions.loaded_at > (
                    select max(built.loaded_at) as last_loaded_at
                    from {{ this }} as built
                )
            )
        )
    {%- else -%}
        {%- set built = run_query(
            "select cast(max(report_date) - " ~ lookback_days ~ " as text), cast(max(loaded_at) as text)"
            ~ " from " ~ this
        ) -%}
        {%- set rebuild_from_date = built.columns[0].values()[0] -%}
        {%- set last_loaded_at = built.columns[1].values()[0] -%}
        {%- if rebuild_from_date is none -%}
            true
        {%- else -%}
            {%- set late = run_query(
                "select distinct cast(report_date as text) from " ~ report_versions
                ~ " where loaded_at > timestamptz '" ~ last_loaded_at ~ "'"
                ~ " and report_date < date '" ~ rebuild_from_date ~ "' order by 1"
            ) -%}
            {%- set conditions = [date_column ~ " >= date '" ~ rebuild_from_date ~ "'"] -%}
            {%- for late_date in late.columns[0].values() -%}
                {%- do conditions.append(date_column ~ " = date '" ~ late_date ~ "'") -%}
            {%- endfor -%}
            ({{ conditions | join(' or ') }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    The rows of `relation` an incremental model keyed by report date reads: all of them on a full
    build, else those of the report dates in its window (report_dates_to_rebuild). Taking both
    relations as arguments, it makes dbt record them as the model's parents at parse time.
#}
{% macro report_rows_to_rebuild(relation, report_versions) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
        where {{ report_dates_to_rebuild(report_versions) }}
    {%- endif %}
{%- endmacro %}
