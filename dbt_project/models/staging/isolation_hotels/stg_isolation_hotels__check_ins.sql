-- One row per isolation hotel, report date and source district: the latest version of the number of
-- guests from that district who checked in that day. Every district of the hotel's city has a row
-- (zeros included), so a corrected zero supersedes an earlier count.

with

latest_versions as (

    -- the latest `_version` of each key: the landing view `<feed>__current`
    select * from {{ source('isolation_hotels', 'hotel_check_ins') }}

),

final as (

    select
        -- keys
        cast(hotel_id as text) as hotel_id,
        cast(report_date as date) as report_date,
        cast(source_district_id as text) as source_district_id,

        -- as reported
        source_district_name_reported,

        -- counts
        cast(check_ins as integer) as check_ins,

        -- load metadata
        _batch_id as batch_id,
        _version as report_version,
        _loaded_at as loaded_at

    from latest_versions

)

select * from final
