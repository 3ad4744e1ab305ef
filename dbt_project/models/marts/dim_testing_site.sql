-- One row per testing site: the current version of its registry entry (from the registry's SCD2
-- snapshot), with when that version became current and the street it belongs to.

with

current_versions as (

    -- the registry entries current now (SCD2 rows not yet replaced)
    select * from {{ ref('testing_sites_snapshot') }}
    where dbt_valid_to is null

),

final as (

    select
        site_id,
        site_name,
        district_id,
        -- a street is district x name: the hotel registry has no street codes (see dim_street)
        {{ street_key('district_id', 'street_name') }} as street_key,
        street_id,
        street_name,
        community_name,
        opened_on,
        closed_on,
        status,
        registry_as_of,
        registry_version,
        dbt_valid_from as valid_from
    from current_versions

)

select * from final
