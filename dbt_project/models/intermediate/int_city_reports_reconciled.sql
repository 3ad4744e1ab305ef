-- Rule R1 per city and report date its bulletin is expected: the city bulletin's own figures (latest
-- version) side by side with the sum over its districts that reported that day, how many districts
-- reported against how many were expected, and whether every measure agrees. fct_city_daily presents
-- it; mart_district_daily_summary carries its flag to every district of the city.

{%- set measures = district_report_measures() %}

with

expected_reports as (

    select * from {{ ref('int_district_reports_expected') }}

),

daily_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

roster as (

    select * from {{ ref('districts') }}

),

city_days as (

    select
        district_id as city_id,
        report_date
    from expected_reports
    where reporter_level = 'city'

),

expected_district_counts as (

    select
        jurisdiction_id as city_id,
        report_date,
        count(*) as districts_expected
    from expected_reports
    where reporter_level = 'district'
    group by jurisdiction_id, report_date

),

district_totals as (

    select
        nullif(roster.parent_district_id, '') as city_id,
        daily_reports.report_date,
        count(*) as districts_reporting,
    {%- for measure in measures %}
        sum(daily_reports.{{ measure }}) as {{ measure }}{{ ',' if not loop.last }}
    {%- endfor %}
    from daily_reports
    inner join roster
        on daily_reports.district_id = roster.district_id
    where roster.district_level = 'district'
    group by nullif(roster.parent_district_id, ''), daily_reports.report_date

),

city_reports as (

    select
        city_days.city_id,
        city_days.report_date,
        daily_reports.district_id is not null as has_city_report,
        daily_reports.report_version as city_report_version,
        daily_reports.submitted_at as city_submitted_at,
    {%- for measure in measures %}
        daily_reports.{{ measure }}{{ ',' if not loop.last }}
    {%- endfor %}
    from city_days
    left join daily_reports
        on
            city_days.city_id = daily_reports.district_id
            and city_days.report_date = daily_reports.report_date

),

reconciled as (

    select
        city_reports.city_id,
        city_reports.report_date,
        cities.district_name as city_name,
        cities.district_name_en as city_name_en,
        city_reports.has_city_report,
        coalesce(expected_district_counts.districts_expected, 0) as districts_expected,
        coalesce(district_totals.districts_reporting, 0) as districts_reporting,
        {%- for measure in measures %}
            city_reports.{{ measure }} as city_{{ measure }},
            district_totals.{{ measure }} as districts_{{ measure }},
        {%- endfor %}
        -- the measures on which the bulletin and the districts' sum differ (a measure nobody
        -- publishes is null on both sides and agrees)
        nullif(concat_ws(
            ', ',
            {%- for measure in measures %}
                case
                    when city_reports.{{ measure }} is distinct from district_totals.{{ measure }}
                        then '{{ measure }}'
                end{{ ',' if not loop.last }}
            {%- endfor %}
        ), '') as unreconciled_measures,
        city_reports.city_report_version,
        city_reports.city_submitted_at
    from city_reports
    inner join roster as cities
        on city_reports.city_id = cities.district_id
    left join expected_district_counts
        on
            city_reports.city_id = expected_district_counts.city_id
            and city_reports.report_date = expected_district_counts.report_date
    left join district_totals
        on
            city_reports.city_id = district_totals.city_id
            and city_reports.report_date = district_totals.report_date

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
        greatest(districts_expected - districts_reporting, 0) as districts_missing,
        districts_reporting >= districts_expected as is_complete,
        has_city_report and unreconciled_measures is null as is_reconciled,
        unreconciled_measures,
        {%- for measure in measures %}
            city_{{ measure }},
            districts_{{ measure }},
        {%- endfor %}
        city_report_version,
        city_submitted_at
    from reconciled

)

select * from final
