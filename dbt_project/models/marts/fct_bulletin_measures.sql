-- Every measure the imported city bulletins publish, long, for BI: jurisdiction × reporter × report
-- date × measure, with the figure's version and whether the reporter publishes the measure at all
-- (rule N1: an unpublished measure has `is_published = false`, and its zeros are not zeros).

with

measures as (

    select * from {{ ref('stg_bulletins__measures') }}

),

roster as (

    -- the reporting roster (seed), which dim_district presents too: a mart does not read a mart
    select * from {{ ref('districts') }}

),

final as (

    select
        measures.jurisdiction_id,
        measures.reporter_id,
        roster.district_name as reporter_name,
        coalesce(roster.district_level, case
            when measures.reporter_id = measures.jurisdiction_id then 'city' else 'district'
        end) as reporter_level,
        measures.report_date,
        measures.measure,
        measures.measure_kind,
        case when measures.is_published then measures.measure_value end as measure_value,
        measures.is_published,
        measures.measure_version,
        measures.source_header,
        measures.batch_id,
        measures.loaded_at
    from measures
    left join roster on measures.reporter_id = roster.district_id

)

select * from final
