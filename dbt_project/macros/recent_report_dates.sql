-- noqa: disable=LT02
-- (Jinja that writes SQL, not a model: its layout is Jinja's, as in store_test_results.sql)
{#
    A data test's window on a feed keyed by report date: its `where` config names the feed's landing
    table as `__recent_report_dates(<table>)__`, and this macro writes in its place the report dates
    whose rows a day's load can have changed: the last `lookback_days` report dates before the latest
    one landed, plus any older report date that got a version in the last `lookback_days` days of
    loads (a backfill, a late correction). Every other report date was judged by the build that landed
    it and its rows have not changed since (landing is append-only). Like `report_dates_to_rebuild`,
    the dates are looked up first and written as constants, so Postgres applies them inside the landing
    view `<feed>__current`, below the DISTINCT ON: the test ranks only those dates' versions.
    `--vars '{test_full_history: true}'` judges every row, as does any test at parse time.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set placeholder = modules.re.search('__recent_report_dates\\((\\w+)\\)__', where) -%}
        {%- if placeholder -%}
            {%- set where = where | replace(
                placeholder.group(0), recent_report_dates(placeholder.group(1))
            ) -%}
        {%- endif -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro recent_report_dates(landing_table, date_column='report_date') -%}
    {%- if not execute or var('test_full_history', false) -%}
        true
    {%- else -%}
        {%- set windows = adapter.get_relation(target.database, 'dbt_state', 'test_windows') -%}
        {%- set recorded = none -%}
        {%- if windows is not none -%}
            {%- set recorded = run_query(
                "select predicate from " ~ windows ~ " where landing_table = '" ~ landing_table ~ "'"
            ).columns[0].values() -%}
        {%- endif -%}
        {%- if recorded -%}
            {{ recorded[0] | replace('report_date', date_column) }}
        {%- else -%}
            {{ look_up_recent_report_dates(landing_table) | replace('report_date', date_column) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#
    on-run-start: each windowed feed's predicate, looked up once per invocation into
    `dbt_state.test_windows`, so that each of a feed's tests reads one small row instead of scanning the
    landing table again. The feeds are those the project's tests name in `__recent_report_dates(...)__`.
#}
{% macro record_test_windows() -%}
    {%- if execute -%}
        {%- set tables = [] -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'test' -%}
            {%- set placeholder = modules.re.search(
                '__recent_report_dates\\((\\w+)\\)__', node.config.get('where') or ''
            ) -%}
            {%- if placeholder and placeholder.group(1) not in tables -%}
                {%- do tables.append(placeholder.group(1)) -%}
            {%- endif -%}
        {%- endfor -%}
        create schema if not exists dbt_state;
        create table if not exists dbt_state.test_windows (landing_table text primary key, predicate text not null);
        truncate dbt_state.test_windows;
        {%- for landing_table in tables %}
        insert into dbt_state.test_windows values (
            '{{ landing_table }}', '{{ look_up_recent_report_dates(landing_table) | replace("'", "''") }}'
        );
        {%- endfor %}
    {%- endif -%}
{%- endmacro %}

{% macro look_up_recent_report_dates(landing_table) -%}
    {%- set lookback_days = var('lookback_days') | int -%}
    {%- set table = 'landing.' ~ adapter.quote(landing_table) -%}
    {%- set window = run_query(
        "with bounds as (select max(report_date) - " ~ lookback_days ~ " as from_date,"
        ~ " max(_loaded_at) - interval '" ~ lookback_days ~ " days' as loaded_since from " ~ table ~ ")"
        ~ " select cast(bounds.from_date as text),"
        ~ " (select string_agg(distinct cast(late.report_date as text), ',') from " ~ table ~ " as late"
        ~ " where late._loaded_at > bounds.loaded_since and late.report_date < bounds.from_date)"
        ~ " from bounds"
    ) -%}
    {%- set from_date = window.columns[0].values()[0] -%}
    {%- set late_dates = window.columns[1].values()[0] -%}
    {%- if from_date is none -%}
        true
    {%- else -%}
        {%- set conditions = ["report_date >= date '" ~ from_date ~ "'"] -%}
        {%- for late_date in (late_dates or '').split(',') if late_date -%}
            {%- do conditions.append("report_date = date '" ~ late_date ~ "'") -%}
        {%- endfor -%}
        ({{ conditions | join(' or ') }})
    {%- endif -%}
{%- endmacro %}
