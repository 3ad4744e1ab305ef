-- One row per district per report date it is expected to report, inside the window its city's
-- testing-site feed has delivered (first to last site report date landed): testing sites active in the
-- registry against those that reported, the sites' samples, tubes and positive tubes, and the
-- district's own samples collected next to the sum over its sites (rule R2, within a tolerance).

with

expected_reports as (

    select * from {{ ref('int_district_reports_expected') }}

),

districts as (

    select * from {{ ref('dim_district') }}

),

testing_sites as (

    select * from {{ ref('dim_testing_site') }}

),

site_days as (

    select * from {{ ref('fct_testing_site_daily') }}

),

district_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

feed_windows as (

    select
        districts.parent_district_id as city_id,
        min(site_days.report_date) as first_report_date,
        max(site_days.report_date) as last_report_date
    from site_days
    inner join districts
        on site_days.district_id = districts.district_id
    group by districts.parent_district_id

),

district_days as (

    select
        expected_reports.district_id,
        expected_reports.report_date,
        expected_reports.jurisdiction_id as city_id
    from expected_reports
    inner join feed_windows
        on
            expected_reports.jurisdiction_id = feed_windows.city_id
            and expected_reports.report_date
            between feed_windows.first_report_date and feed_windows.last_report_date
    where expected_reports.reporter_level = 'district'

),

active_sites as (

    select
        district_days.district_id,
        district_days.report_date,
        count(*) as sites_active
    from district_days
    inner join testing_sites
        on
            district_days.district_id = testing_sites.district_id
            and district_days.report_date >= testing_sites.opened_on
            and (
                testing_sites.closed_on is null
                or district_days.report_date < testing_sites.closed_on
            )
    group by district_days.district_id, district_days.report_date

),

site_totals as (

    select
        district_id,
        report_date,
        count(*) as sites_reporting,
        count(*) filter (where is_lab_result_pending) as sites_lab_results_pending,
        sum(samples_collected) as samples_collected,
        sum(tubes) as tubes,
        sum(tubes_sent_to_lab) as tubes_sent_to_lab,
        sum(positive_tubes) as positive_tubes
    from site_days
    group by district_id, report_date

),

district_days_measured as (

    select
        district_days.district_id,
        district_days.report_date,
        district_days.city_id,
        coalesce(active_sites.sites_active, 0) as sites_active,
        coalesce(site_totals.sites_reporting, 0) as sites_reporting,
        coalesce(site_totals.sites_lab_results_pending, 0) as sites_lab_results_pending,
        coalesce(site_totals.samples_collected, 0) as sites_samples_collected,
        coalesce(site_totals.tubes, 0) as tubes,
        coalesce(site_totals.tubes_sent_to_lab, 0) as tubes_sent_to_lab,
        site_totals.positive_tubes,
        district_reports.district_id is not null as has_district_report,
        district_reports.samples_collected as district_samples_collected
    from district_days
    left join active_sites
        on
            district_days.district_id = active_sites.district_id
            and district_days.report_date = active_sites.report_date
    left join site_totals
        on
            district_days.district_id = site_totals.district_id
            and district_days.report_date = site_totals.report_date
    left join district_reports
        on
            district_days.district_id = district_reports.district_id
            and district_days.report_date = district_reports.report_date

),

final as (

    select
        district_days_measured.district_id,
        district_days_measured.report_date,
        district_days_measured.city_id,
        district_names.name as district_name,
        district_days_measured.sites_active,
        district_days_measured.sites_reporting,
        greatest(
            district_days_measured.sites_active - district_days_measured.sites_reporting, 0
        ) as sites_missing,
        district_days_measured.sites_reporting >= district_days_measured.sites_active
            as is_sites_complete,
        district_days_measured.sites_lab_results_pending,
        district_days_measured.sites_samples_collected,
        district_days_measured.tubes,
        district_days_measured.tubes_sent_to_lab,
        district_days_measured.positive_tubes,
        district_days_measured.has_district_report,
        district_days_measured.district_samples_collected,
        district_days_measured.district_samples_collected
        - district_days_measured.sites_samples_collected as samples_difference,
        -- R2: the district's figure and its sites' sum agree within the tolerance (percent of the
        -- district's figure); null when the district has not reported it
        case
            when district_days_measured.district_samples_collected is not null
                then
                    abs(
                        district_days_measured.district_samples_collected
                        - district_days_measured.sites_samples_collected
                    )
                    <= district_days_measured.district_samples_collected
                    * {{ var('samples_tolerance_pct') }} / 100.0
        end as is_samples_reconciled
    from district_days_measured
    inner join districts as district_names
        on district_days_measured.district_id = district_names.district_id

)

select * from final
