-- One row per version of each testing site's daily report landed, keys and load metadata only: when
-- each report date last got a version, for the incremental models' window (report_dates_to_rebuild).

with

report_versions as (

    select * from {{ source('testing_sites', 'testing_site_report_versions') }}

),

final as (

    select
        -- keys
        cast(site_id as text) as site_id,
        cast(report_date as date) as report_date,
        cast(_version as integer) as report_version,

        -- load metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at

    from report_versions

)

select * from final
