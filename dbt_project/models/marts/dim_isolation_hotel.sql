-- One row per isolation hotel: the current version of its registry entry (from the registry's SCD2
-- snapshot), with when that version became current and the street it stands in.

with

current_versions as (

    -- the registry entries current now (SCD2 rows not yet replaced)
    select * from {{ ref('isolation_hotels_snapshot') }}
    where dbt_valid_to is null

),

final as (

    select
        hotel_id,
        hotel_name,
        district_id,
        -- a street is district x name: the hotel registry has no street codes (see dim_street)
        {{ street_key('district_id', 'street_name') }} as street_key,
        street_name,
        rooms,
        capacity,
        staff,
        requisitioned_from,
        requisitioned_to,
        report_format,
        status,
        registry_as_of,
        registry_version,
        dbt_valid_from as valid_from
    from current_versions

)

select * from final
