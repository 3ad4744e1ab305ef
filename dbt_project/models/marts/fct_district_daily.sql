-- One row per district per report date, for the ten districts (the city bulletin is not a district
-- report), with the latest version of its figures and a consistency flag for the positives.

{%- set measures = district_report_measures() %}

with

daily_reports as (

    select * from {{ ref('int_district_reports_submitted') }}

),

districts as (

    select * from {{ ref('districts') }}

),

reporting_districts as (

    select
        district_id,
        district_name,
        district_name_en
    from districts
    where district_level = 'district'

),

final as (

    select
        daily_reports.district_id,
        daily_reports.report_date,
        reporting_districts.district_name,
        reporting_districts.district_name_en,
        daily_reports.district_name_reported,
        {%- for measure in measures %}
            daily_reports.{{ measure }},
        {%- endfor %}
        coalesce(
            daily_reports.new_positives = daily_reports.new_confirmed + daily_reports.new_asymptomatic, false
        ) as is_positives_consistent,
        daily_reports.report_version > 1 as is_revised,
        daily_reports.report_version,
        daily_reports.submitted_at,
        daily_reports.batch_id,
        daily_reports.loaded_at
    from daily_reports
    inner join reporting_districts
        on daily_reports.district_id = reporting_districts.district_id

)

select * from final
