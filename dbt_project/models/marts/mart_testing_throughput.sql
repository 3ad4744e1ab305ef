-- One row per district per report date it is expected to report, inside the window its city's
-- testing-site feed has delivered (first to last site report date landed): testing sites active in the
-- registry against those that reported, the sites' samples, tubes and positive tubes, and the
-- district's own samples collected next to the sum over its sites (rule R2, within a tolerance). The
-- figures are int_district_testing_daily's, which the district summary reads too.

with

district_days as (

    select * from {{ ref('int_district_testing_daily') }}

),

final as (

    select
        district_id,
        report_date,
        city_id,
        district_name,
        sites_active,
        sites_reporting,
        sites_missing,
        is_sites_complete,
        sites_lab_results_pending,
        sites_samples_collected,
        tubes,
        tubes_sent_to_lab,
        positive_tubes,
        has_district_report,
        district_samples_collected,
        samples_difference,
        is_samples_reconciled
    from district_days

)

select * from final
