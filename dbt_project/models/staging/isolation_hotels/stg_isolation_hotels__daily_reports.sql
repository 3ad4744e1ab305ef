-- One row per isolation hotel per report date: the latest version of each hotel's daily report
-- (rooms, guests, check-ins and check-outs). Earlier versions stay in landing as revision history.

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `<feed>__current`
    select * from {{ source('isolation_hotels', 'hotel_reports') }}

),

final as (

    select
        -- keys
        cast(hotel_id as text) as hotel_id,
        cast(report_date as date) as report_date,
        cast(district_id as text) as district_id,

        -- as reported
        hotel_name_reported,

        -- counts
        cast(rooms_total as integer) as rooms_total,
        cast(rooms_occupied as integer) as rooms_occupied,
        cast(guests as integer) as guests,
        cast(check_ins as integer) as check_ins,
        cast(check_outs as integer) as check_outs,
        cast(staff as integer) as staff,

        -- timestamps
        cast(submitted_at as timestamptz) as submitted_at,

        -- load metadata
        _batch_id as batch_id,
        _version as report_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
