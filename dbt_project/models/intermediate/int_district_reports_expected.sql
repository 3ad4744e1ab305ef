-- Which district reports the reporting calendar expects: one row per reporter (a city's bulletin or
-- a district) per report date inside its city's active window for its level, up to the last report
-- date landed from that city, with the deadline the report is due by.

with

districts as (

    select * from {{ ref('districts') }}

),

reporting_calendar as (

    select * from {{ ref('reporting_calendar') }}

),

daily_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

reporters as (

    select
        district_id,
        district_level as reporter_level,
        -- a district's jurisdiction is its city; a city is its own
        coalesce(nullif(parent_district_id, ''), district_id) as jurisdiction_id
    from districts

),

last_report_dates as (

    select
        reporters.jurisdiction_id,
        max(daily_reports.report_date) as last_report_date
    from daily_reports
    inner join reporters
        on daily_reports.district_id = reporters.district_id
    group by reporters.jurisdiction_id

),

calendar_windows as (

    select
        reporting_calendar.jurisdiction_id,
        reporting_calendar.reporter_level,
        reporting_calendar.active_from,
        -- least() ignores nulls: an open-ended window (no active_to) ends at the last date landed
        least(
            reporting_calendar.active_to, last_report_dates.last_report_date
        ) as active_until,
        reporting_calendar.deadline_days_after_report_date,
        reporting_calendar.deadline_local_time,
        reporting_calendar.grace_minutes
    from reporting_calendar
    inner join last_report_dates
        on reporting_calendar.jurisdiction_id = last_report_dates.jurisdiction_id
    where reporting_calendar.feed = 'district_reports'

),

expected_dates as (

    select
        calendar_windows.jurisdiction_id,
        calendar_windows.reporter_level,
        calendar_windows.deadline_days_after_report_date,
        calendar_windows.deadline_local_time,
        calendar_windows.grace_minutes,
        calendar_windows.active_from + day_offsets.day_offset as report_date
    from calendar_windows
    cross join lateral generate_series(
        0, calendar_windows.active_until - calendar_windows.active_from
    ) as day_offsets (day_offset)

),

expected_reports as (

    select
        reporters.district_id,
        expected_dates.report_date,
        reporters.jurisdiction_id,
        reporters.reporter_level,
        -- the deadline is local (Asia/Shanghai) wall-clock time on a day after the report date
        (
            expected_dates.report_date
            + expected_dates.deadline_days_after_report_date
            + expected_dates.deadline_local_time
        ) at time zone 'Asia/Shanghai' as due_at,
        expected_dates.grace_minutes
    from reporters
    inner join expected_dates
        on
            reporters.jurisdiction_id = expected_dates.jurisdiction_id
            and reporters.reporter_level = expected_dates.reporter_level

),

final as (

    select
        district_id,
        report_date,
        jurisdiction_id,
        reporter_level,
        due_at,
        due_at + grace_minutes * interval '1 minute' as alert_at
    from expected_reports

)

select * from final
