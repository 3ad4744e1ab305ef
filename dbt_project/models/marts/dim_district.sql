-- The reporting roster as a dimension: the city and its ten districts and counties.

with

districts as (

    select * from {{ ref('districts') }}

),

final as (

    select
        district_id,
        district_name as name,
        district_name_en as name_en,
        district_level as level,
        nullif(parent_district_id, '') as parent_district_id
    from districts

)

select * from final
