-- One row per testing site per report date with a report: the latest version of the site's figures.
-- Incremental (delete+insert on site_id, report_date; configured in dbt_project.yml): each build
-- rebuilds the last `lookback_days` report dates before the latest one already built, so late reports
-- and revisions (lab results arrive in a resubmitted file a day later) replace their rows, plus any
-- report date that got a version since the last build, however old (a backfill, a late correction).

with

daily_reports as (

    select * from {{ ref('stg_testing_sites__daily_reports') }}

),

reports_to_build as (

    select daily_reports.*
    from daily_reports
    {% if is_incremental() %}
        where
            -- an empty table is built in full
            not exists (select 1 as is_built from {{ this }})
            or daily_reports.report_date >= (
                select max(built.report_date) - {{ var('lookback_days') }} as rebuild_from_date
                from {{ this }} as built
            )
            or daily_reports.loaded_at > (
                select max(built.loaded_at) as last_loaded_at
                from {{ this }} as built
            )
    {% endif %}

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
    from reports_to_build

)

select * from final
