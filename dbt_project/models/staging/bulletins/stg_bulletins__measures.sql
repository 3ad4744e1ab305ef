-- One row per reporter, report date and measure: the latest version of each published figure.
-- Revisions stay in landing as history.

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `bulletin_measures__current`
    select * from {{ source('bulletins', 'bulletin_measures') }}

),

final as (

    select
        -- keys
        cast(reporter_id as text) as reporter_id,
        cast(report_date as date) as report_date,
        cast(measure as text) as measure,

        -- the city whose bulletin published it
        cast(jurisdiction_id as text) as jurisdiction_id,

        -- the figure
        cast(value as integer) as measure_value,
        cast(is_published as boolean) as is_published,
        case
            when measure like 'cumulative\_%' then 'cumulative'
            when measure like 'current\_%' or measure like '%under\_observation' then 'current'
            else 'daily'
        end as measure_kind,

        -- as published
        source_header,

        -- load metadata
        _batch_id as batch_id,
        _version as measure_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
