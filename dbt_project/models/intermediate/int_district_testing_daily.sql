-- Rule R2 per district and report date it is expected to report, inside the window its city's
-- testing-site feed has delivered (the spine int_district_feed_days, with the sites active in the
-- registry): the sites active against those that reported, the sites' samples, tubes and positive
-- tubes, and the district's own samples collected next to the sum over its sites (within a
-- tolerance). mart_testing_throughput presents it; mart_district_daily_summary carries it beside the
-- district's report.

with

district_days as (

    select * from {{ ref('int_district_feed_days') }}
    where feed = 'testing_sites'

),

site_totals as (

    select * from {{ ref('int_testing_sites_by_district_daily') }}

),

district_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

district_days_measured as (

    select
        district_days.district_id,
        district_days.report_date,
        district_days.city_id,
        district_days.district_name,
        district_days.registry_entries_active as sites_active,
        coalesce(site_totals.sites_reporting, 0) as sites_reporting,
        coalesce(site_totals.sites_lab_results_pending, 0) as sites_lab_results_pending,
        coalesce(site_totals.samples_collected, 0) as sites_samples_collected,
        coalesce(site_totals.tubes, 0) as tubes,
        coalesce(site_totals.tubes_sent_to_lab, 0) as tubes_sent_to_lab,
        site_totals.positive_tubes,
        district_reports.district_id is not null as has_district_report,
        district_reports.samples_collected as district_samples_collected
    from district_days
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
        district_days_measured.district_name,
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

)

select * from final
