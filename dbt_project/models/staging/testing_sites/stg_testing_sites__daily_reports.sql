-- One row per testing site per report date: the latest version of each site's daily report. A site's
-- report is usually resubmitted when its lab results arrive; earlier versions stay in landing.

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `<feed>__current`
    select * from {{ source('testing_sites', 'testing_site_reports') }}

),

final as (

    select
        -- keys
        cast(site_id as text) as site_id,
        cast(report_date as date) as report_date,
        cast(district_id as text) as district_id,

        -- as reported
        site_name_reported,

        -- counts
        cast(pool_size as integer) as pool_size,
        cast(samples_collected as integer) as samples_collected,
        cast(tubes as integer) as tubes,
        cast(tubes_sent_to_lab as integer) as tubes_sent_to_lab,
        cast(positive_tubes as integer) as positive_tubes,

        -- load metadata
        _batch_id as batch_id,
        _version as report_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
