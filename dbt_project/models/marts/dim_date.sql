-- A date spine for the report dates: from the first date any reporting window opens (or the first
-- expected report, if earlier) to the last report date expected (the last date landed, for an
-- open-ended window), one row per day. Built from the expected-reports spine, not from staging.

with

expected_reports as (

    select * from {{ ref('int_district_reports_expected') }}

),

reporting_calendar as (

    select * from {{ ref('reporting_calendar') }}

),

expected_range as (

    select
        min(report_date) as first_report_date,
        max(report_date) as last_report_date
    from expected_reports

),

calendar_start as (

    select min(active_from) as first_active_date
    from reporting_calendar

),

date_range as (

    select
        -- least() ignores nulls: without a calendar the spine starts at the first report
        least(
            calendar_start.first_active_date, expected_range.first_report_date
        ) as first_date,
        expected_range.last_report_date as last_date
    from expected_range
    cross join calendar_start

),

date_spine as (

    select date_range.first_date + day_offsets.day_offset as calendar_date
    from date_range
    cross join lateral generate_series(
        0, date_range.last_date - date_range.first_date
    ) as day_offsets (day_offset)

),

final as (

    select
        calendar_date,
        cast(extract(isodow from calendar_date) as integer) as iso_day_of_week,
        trim(to_char(calendar_date, 'Day')) as day_name,
        (array['星期一', '星期二', '星期三', '星期四', '星期五', '星期六', '星期日'])[
            extract(isodow from calendar_date)
        ] as day_name_zh,
        extract(isodow from calendar_date) in (6, 7) as is_weekend,
        cast(extract(isoyear from calendar_date) as integer) as iso_year,
        cast(extract(week from calendar_date) as integer) as iso_week,
        cast(date_trunc('week', calendar_date) as date) as iso_week_start_date,
        cast(date_trunc('month', calendar_date) as date) as month_start_date
    from date_spine

)

select * from final
