-- One row per district per report date: the latest version of each report. Revisions stay in
-- landing as history; everything downstream reads the figures the district last submitted, and
-- timeliness is judged by when the first version was submitted.

with

report_versions as (

    select * from {{ source('landing', 'district_reports') }}

),

ranked_versions as (

    select
        report_versions.*,
        row_number() over (
            partition by report_versions.district_id, report_versions.report_date
            order by report_versions._version desc
        ) as version_rank,
        -- a report without a submission time counts as submitted when it landed
        min(coalesce(report_versions.submitted_at, report_versions._loaded_at)) over (
            partition by report_versions.district_id, report_versions.report_date
        ) as first_submitted_at
    from report_versions

),

latest_versions as (

    select * from ranked_versions
    where version_rank = 1

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
        cast(first_submitted_at as timestamptz) as first_submitted_at,

        -- load metadata
        _batch_id as batch_id,
        _version as report_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
