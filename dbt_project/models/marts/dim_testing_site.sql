-- One row per testing site: the current version of its registry entry (from the registry's SCD2
-- snapshot), with when that version became current and the street it belongs to.

with

site_versions as (

    select * from {{ ref('testing_sites_snapshot') }}

),

current_versions as (

    select * from site_versions
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
