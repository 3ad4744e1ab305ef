-- One row per testing site: the latest version of its entry in the testing-site registry. The
-- registry's history is kept by the `testing_sites_snapshot` snapshot (and every version in landing).

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `<feed>__current`
    select * from {{ source('testing_sites', 'testing_sites') }}

),

final as (

    select
        -- keys
        cast(site_id as text) as site_id,
        cast(district_id as text) as district_id,
        cast(street_id as text) as street_id,

        -- names
        site_name,
        district_name_reported,
        street_name,
        community_name,

        -- lifecycle
        cast(opened_on as date) as opened_on,
        cast(closed_on as date) as closed_on,
        status,
        cast(registry_as_of as date) as registry_as_of,

        -- load metadata
        _batch_id as batch_id,
        _version as registry_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
