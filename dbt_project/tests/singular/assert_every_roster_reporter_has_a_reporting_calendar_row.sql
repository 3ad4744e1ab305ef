-- Every reporter on the roster needs a reporting_calendar row for its city and level: without one
-- it silently drops out of int_district_reports_expected, and so out of the completeness marts.
-- Returns the reporters without a row.

with

districts as (

    select * from {{ ref('districts') }}

),

reporting_calendar as (

    select * from {{ ref('reporting_calendar') }}

),

district_report_calendar as (

    select
        jurisdiction_id,
        reporter_level
    from reporting_calendar
    where feed = 'district_reports'

),

uncovered_reporters as (

    select
        districts.district_id,
        districts.district_name,
        districts.district_level
    from districts
    left join district_report_calendar
        on
            coalesce(nullif(districts.parent_district_id, ''), districts.district_id)
            = district_report_calendar.jurisdiction_id
            and districts.district_level = district_report_calendar.reporter_level
    where district_report_calendar.jurisdiction_id is null

)

select * from uncovered_reporters
