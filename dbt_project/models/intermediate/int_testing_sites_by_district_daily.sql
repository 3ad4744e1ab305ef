-- One row per district per report date with site reports: the district's testing sites that
-- reported (latest version of each site's report), their samples, tubes and positive tubes.
-- Incremental like fct_testing_site_daily (delete+insert on district_id, report_date, configured in
-- dbt_project.yml): only the report dates in the window of report_dates_to_rebuild are re-aggregated,
-- so the site feed's history is not re-ranked on every build.

with

site_reports as (

    {{ report_rows_to_rebuild(
        ref('stg_testing_sites__daily_reports'), ref('stg_testing_sites__report_versions')
    ) }}

),

final as (

    select
        district_id,
        report_date,
        count(*) as sites_reporting,
        count(*) filter (where positive_tubes is null) as sites_lab_results_pending,
        sum(samples_collected) as samples_collected,
        sum(tubes) as tubes,
        sum(tubes_sent_to_lab) as tubes_sent_to_lab,
        sum(positive_tubes) as positive_tubes,
        max(loaded_at) as loaded_at
    from site_reports
    group by district_id, report_date

)

select * from final
