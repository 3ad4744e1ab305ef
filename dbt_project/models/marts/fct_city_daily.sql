-- One row per city per report date its bulletin is expected: the city bulletin's own figures (latest
-- version) side by side with the sum over its districts that reported that day, how many districts
-- reported against how many were expected, and rule R1 (every measure equal) as a flag. The
-- reconciliation itself is int_city_reports_reconciled, which the district summary reads too.

{%- set measures = district_report_measures() %}

with

city_days as (

    select * from {{ ref('int_city_reports_reconciled') }}

),

final as (

    select
        city_id,
        report_date,
        city_name,
        city_name_en,
        has_city_report,
        districts_expected,
        districts_reporting,
        districts_missing,
        is_complete,
        is_reconciled,
        unreconciled_measures,
        {%- for measure in measures %}
            city_{{ measure }},
            districts_{{ measure }},
        {%- endfor %}
        city_report_version,
        city_submitted_at
    from city_days

)

select * from final
