-- One row per testing site per report date with a report: the latest version of the site's figures.
-- Incremental (delete+insert on site_id, report_date; configured in dbt_project.yml): each build
-- rebuilds the last `lookback_days` report dates before the latest one already built, so late reports
-- and revisions (lab results arrive in a resubmitted file a day later) replace their rows, plus any
-- report date that got a version since the last build, however old (a backfill, a late correction).
-- The window is resolved before the query runs (macro report_dates_to_rebuild), so only those dates'
-- versions are ranked in landing: a build's work follows the new data, not the history.

with

daily_reports as (

    {{ report_rows_to_rebuild(
        ref('stg_testing_sites__daily_reports'), ref('stg_testing_sites__report_versions')
    ) }}

),

final as (

    select
        site_id,
        report_date,
        district_id,
        pool_size,
        samples_collected,
        tubes,
        tubes_sent_to_lab,
        positive_tubes,
        positive_tubes is null as is_lab_result_pending,
        report_version > 1 as is_revised,
        report_version,
        batch_id,
        loaded_at
    from daily_reports

)

select * from final
