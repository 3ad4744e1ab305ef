-- One row per street (街道/镇) named by the testing-site or isolation-hotel registry: district × street
-- name, with the registry's street code where the site registry gives one, and how many current
-- testing sites and isolation hotels it has.

with

site_versions as (

    select * from {{ ref('testing_sites_snapshot') }}

),

hotel_versions as (

    select * from {{ ref('isolation_hotels_snapshot') }}

),

testing_sites as (

    -- the registry entries current now, as in dim_testing_site
    select
        *,
        {{ street_key('district_id', 'street_name') }} as street_key
    from site_versions
    where dbt_valid_to is null

),

isolation_hotels as (

    -- the registry entries current now, as in dim_isolation_hotel
    select
        *,
        {{ street_key('district_id', 'street_name') }} as street_key
    from hotel_versions
    where dbt_valid_to is null

),

site_streets as (

    select
        street_key,
        district_id,
        trim(street_name) as street_name,
        min(street_id) as street_id,
        count(*) as testing_sites
    from testing_sites
    where street_key is not null
    group by street_key, district_id, trim(street_name)

),

hotel_streets as (

    select
        street_key,
        district_id,
        trim(street_name) as street_name,
        count(*) as isolation_hotels
    from isolation_hotels
    where street_key is not null
    group by street_key, district_id, trim(street_name)

),

final as (

    select
        coalesce(site_streets.street_key, hotel_streets.street_key) as street_key,
        coalesce(site_streets.district_id, hotel_streets.district_id) as district_id,
        coalesce(site_streets.street_name, hotel_streets.street_name) as street_name,
        site_streets.street_id,
        coalesce(site_streets.testing_sites, 0) as testing_sites,
        coalesce(hotel_streets.isolation_hotels, 0) as isolation_hotels
    from site_streets
    full outer join hotel_streets
        on site_streets.street_key = hotel_streets.street_key

)

select * from final
