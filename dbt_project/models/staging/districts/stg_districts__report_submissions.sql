-- One row per district report (district, report date): when its first version was submitted, over
-- every version landed. Timeliness is judged by this, so a revision sent after the deadline does not
-- make an on-time report late.

with

report_versions as (

    select * from {{ source('districts', 'district_report_versions') }}

),

final as (

    select
        -- keys
        cast(district_id as text) as district_id,
        cast(report_date as date) as report_date,

        -- timestamps: a version without a submission time counts as submitted when it landed
        cast(min(coalesce(submitted_at, _loaded_at)) as timestamptz) as first_submitted_at,

        -- versions
        cast(count(*) as integer) as versions_landed

    from report_versions
    group by district_id, report_date

)

select * from final
