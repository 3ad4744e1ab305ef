-- The district-days each file feed covers: one row per feed (`testing_sites`, `isolation_hotels`),
-- district and report date the district is expected to report, inside the window its city's feed has
-- delivered (first to last report date landed from that city), with the district's name and the
-- feed's registry entries active in the district that day (testing sites open, isolation hotels
-- requisitioned, and the hotels' guest capacity). The one spine of int_district_testing_daily (R2)
-- and int_district_isolation_daily (R3), so neither repeats the window, the roster or the registry.

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

site_versions as (

    select * from {{ ref('testing_sites_snapshot') }}

),

hotel_versions as (

    select * from {{ ref('isolation_hotels_snapshot') }}

),

registry_entries as (

    -- the registry entries current now (SCD2 rows not yet replaced) and the days each is active: a
    -- site from its opening to its closing, a hotel while it is requisitioned (end dates exclusive)
    select
        'testing_sites' as feed,
        district_id,
        opened_on as active_from,
        closed_on as active_until,
        cast(null as integer) as guest_capacity
    from site_versions
    where dbt_valid_to is null
    union all
    select
        'isolation_hotels' as feed,
        district_id,
        requisitioned_from as active_from,
        requisitioned_to as active_until,
        capacity as guest_capacity
    from hotel_versions
    where dbt_valid_to is null

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

feed_days as (

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

),

active_entries as (

    select
        feed_days.feed,
        feed_days.district_id,
        feed_days.report_date,
        count(*) as registry_entries_active,
        sum(registry_entries.guest_capacity) as guest_capacity
    from feed_days
    inner join registry_entries
        on
            feed_days.feed = registry_entries.feed
            and feed_days.district_id = registry_entries.district_id
            and feed_days.report_date >= registry_entries.active_from
            and (
                registry_entries.active_until is null
                or feed_days.report_date < registry_entries.active_until
            )
    group by feed_days.feed, feed_days.district_id, feed_days.report_date

),

final as (

    select
        feed_days.feed,
        feed_days.district_id,
        feed_days.report_date,
        feed_days.city_id,
        roster.district_name,
        feed_days.has_next_day_reports,
        coalesce(active_entries.registry_entries_active, 0) as registry_entries_active,
        coalesce(active_entries.guest_capacity, 0) as guest_capacity
    from feed_days
    inner join roster
        on feed_days.district_id = roster.district_id
    left join active_entries
        on
            feed_days.feed = active_entries.feed
            and feed_days.district_id = active_entries.district_id
            and feed_days.report_date = active_entries.report_date

)

select * from final
