-- A date spine for the report dates: from the first date any reporting window opens (or the first
-- report landed, if earlier) to the last report date landed, one row per day.

with

daily_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

reporting_calendar as (

    select * from {{ ref('reporting_calendar') }}

),

landed_range as (

    select
        min(report_date) as first_report_date,
        max(report_date) as last_report_date
    from daily_reports

),

calendar_start as (

    select min(active_from) as first_active_date
    from reporting_calendar

),

date_range as (

    select
        -- least() ignores nulls: without a calendar the spine starts at the first report
        least(
            calendar_start.first_active_date, landed_range.first_report_date
        ) as first_date,
        landed_range.last_report_date as last_date
    from landed_range
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
