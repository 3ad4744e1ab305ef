-- The district-days each file feed covers: one row per feed (`testing_sites`, `isolation_hotels`),
-- district and report date the district is expected to report, inside the window its city's feed has
-- delivered (first to last report date landed from that city). The testing and isolation spines of
-- int_district_testing_daily and int_district_isolation_daily.

with

expected_reports as (

    select * from {{ ref('int_district_reports_expected') }}

),

roster as (

    select * from {{ ref('districts') }}

),

site_days as (

    select * from {{ ref('int_testing_sites_by_district_daily') }}

),

hotel_reports as (

    select * from {{ ref('stg_isolation_hotels__daily_reports') }}

),

feed_report_dates as (

    select
        'testing_sites' as feed,
        district_id,
        report_date
    from site_days
    union all
    select
        'isolation_hotels' as feed,
        district_id,
        report_date
    from hotel_reports

),

feed_windows as (

    select
        feed_report_dates.feed,
        nullif(roster.parent_district_id, '') as city_id,
        min(feed_report_dates.report_date) as first_report_date,
        max(feed_report_dates.report_date) as last_report_date
    from feed_report_dates
    inner join roster
        on feed_report_dates.district_id = roster.district_id
    group by feed_report_dates.feed, nullif(roster.parent_district_id, '')

),

final as (

    select
        feed_windows.feed,
        expected_reports.district_id,
        expected_reports.report_date,
        expected_reports.jurisdiction_id as city_id,
        -- the next day's figures are known once the feed has delivered that day
        expected_reports.report_date < feed_windows.last_report_date as has_next_day_reports
    from expected_reports
    inner join feed_windows
        on
            expected_reports.jurisdiction_id = feed_windows.city_id
            and expected_reports.report_date
            between feed_windows.first_report_date and feed_windows.last_report_date
    where expected_reports.reporter_level = 'district'

)

select * from final
