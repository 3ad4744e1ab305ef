-- One row per district per report date: the latest version of each report. Revisions stay in
-- landing as history; everything downstream reads the figures the district last submitted (when the
-- first version was submitted, by which timeliness is judged, is stg_districts__report_submissions).

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `district_reports__current`
    select * from {{ source('districts', 'district_reports') }}

),

final as (

    select
        -- keys
        cast(district_id as text) as district_id,
        cast(report_date as date) as report_date,

        -- as reported
        district_name_reported,

        -- counts
        cast(new_positives as integer) as new_positives,
        cast(new_confirmed as integer) as new_confirmed,
        cast(new_asymptomatic as integer) as new_asymptomatic,
        cast(cumulative_confirmed as integer) as cumulative_confirmed,
        cast(cumulative_positives as integer) as cumulative_positives,
        cast(sealed_zones as integer) as sealed_zones,
        cast(controlled_zones as integer) as controlled_zones,
        cast(precaution_zones as integer) as precaution_zones,
        cast(close_contacts_identified as integer) as close_contacts_identified,
        cast(transferred_to_isolation as integer) as transferred_to_isolation,
        cast(home_isolation as integer) as home_isolation,
        cast(samples_collected as integer) as samples_collected,
        cast(grid_workers_on_duty as integer) as grid_workers_on_duty,
        cast(volunteers as integer) as volunteers,

        -- timestamps
        cast(submitted_at as timestamptz) as submitted_at,

        -- load metadata
        _batch_id as batch_id,
        _version as report_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
