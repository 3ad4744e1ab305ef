-- One row per isolation hotel: the latest version of its entry in the isolation-hotel registry. The
-- registry's history is kept by the `isolation_hotels_snapshot` snapshot (and every version in landing).

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `<feed>__current`
    select * from {{ source('isolation_hotels', 'isolation_hotels') }}

),

final as (

    select
        -- keys
        cast(hotel_id as text) as hotel_id,
        cast(district_id as text) as district_id,

        -- names
        hotel_name,
        district_name_reported,
        street_name,

        -- capacity
        cast(rooms as integer) as rooms,
        cast(capacity as integer) as capacity,
        cast(staff as integer) as staff,

        -- lifecycle
        cast(requisitioned_from as date) as requisitioned_from,
        cast(requisitioned_to as date) as requisitioned_to,
        report_format,
        status,
        cast(registry_as_of as date) as registry_as_of,

        -- load metadata
        _batch_id as batch_id,
        _version as registry_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
