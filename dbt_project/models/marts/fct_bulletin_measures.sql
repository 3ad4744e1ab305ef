-- Every measure the imported city bulletins publish, long, for BI: jurisdiction × reporter × report
-- date × measure, with the figure's version and whether the reporter publishes the measure at all
-- (rule N1: an unpublished measure has `is_published = false`, and its zeros are not zeros).

with

measures as (

    select * from {{ ref('stg_bulletins__measures') }}

),

districts as (

    select * from {{ ref('dim_district') }}

),

final as (

    select
        measures.jurisdiction_id,
        measures.reporter_id,
        districts.name as reporter_name,
        coalesce(districts.level, case
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
    left join districts on measures.reporter_id = districts.district_id

)

select
    jurisdiction_id,
    reporter_id,
    reporter_name,
    reporter_level,
    report_date,
    measure,
    measure_kind,
    measure_value,
    is_published,
    measure_version,
    source_header,
    batch_id,
    loaded_at
from final
