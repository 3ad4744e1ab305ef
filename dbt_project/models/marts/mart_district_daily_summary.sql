-- One row per roster district per report date it is expected to report (its city's reporting
-- window, up to the last report date landed from that city): its figures where it reported, whether
-- it reported at all, on time, consistently and with revisions, and whether its city reconciled;
-- then the other feeds side by side: its testing sites (completeness, samples, rule R2) and the
-- isolation hotels' check-ins from the district (rule R3), null where the feed does not cover the day.

{%- set measures = district_report_measures() %}

with

expected_reports as (

    select * from {{ ref('int_district_reports_expected') }}

),

daily_reports as (

    select * from {{ ref('int_district_reports_submitted') }}

),

roster as (

    select * from {{ ref('districts') }}

),

city_days as (

    select * from {{ ref('int_city_reports_reconciled') }}

),

testing_days as (

    select * from {{ ref('int_district_testing_daily') }}

),

isolation_days as (

    select * from {{ ref('int_district_isolation_daily') }}

),

district_days as (

    select
        district_id,
        report_date,
        jurisdiction_id as city_id,
        due_at
    from expected_reports
    where reporter_level = 'district'

),

district_days_reported as (

    select
        district_days.district_id,
        district_days.report_date,
        district_days.city_id,
        district_days.due_at,
        daily_reports.district_id is not null as has_report,
        {%- for measure in measures %}
            daily_reports.{{ measure }},
        {%- endfor %}
        daily_reports.report_version,
        daily_reports.first_submitted_at,
        daily_reports.submitted_at
    from district_days
    left join daily_reports
        on
            district_days.district_id = daily_reports.district_id
            and district_days.report_date = daily_reports.report_date

),

final as (

    select
        district_days_reported.district_id,
        district_days_reported.report_date,
        district_days_reported.city_id,
        district_names.district_name,
        district_names.district_name_en,
        city_names.district_name as city_name,
        district_days_reported.has_report,
        {%- for measure in measures %}
            district_days_reported.{{ measure }},
        {%- endfor %}
        -- the report-derived flags are null where there is no report: nothing to judge
        case
            when district_days_reported.has_report
                then
                    district_days_reported.first_submitted_at
                    > district_days_reported.due_at
        end as is_late,
        case
            when district_days_reported.has_report
                then
                    coalesce(
                        district_days_reported.new_positives
                        = district_days_reported.new_confirmed + district_days_reported.new_asymptomatic,
                        false
                    )
        end as is_positives_consistent,
        case
            when district_days_reported.has_report
                then district_days_reported.report_version > 1
        end as is_revised,
        coalesce(city_days.is_reconciled, false) as is_city_reconciled,
        district_days_reported.report_version,
        district_days_reported.due_at,
        district_days_reported.first_submitted_at,
        district_days_reported.submitted_at,
        testing_days.sites_active,
        testing_days.sites_reporting,
        testing_days.sites_samples_collected,
        testing_days.is_samples_reconciled,
        isolation_days.hotels_active,
        isolation_days.hotels_reporting,
        isolation_days.check_ins_from_district,
        isolation_days.check_ins_from_district_next_day,
        isolation_days.is_isolation_reconciled
    from district_days_reported
    inner join roster as district_names
        on district_days_reported.district_id = district_names.district_id
    inner join roster as city_names
        on district_days_reported.city_id = city_names.district_id
    left join city_days
        on
            district_days_reported.city_id = city_days.city_id
            and district_days_reported.report_date = city_days.report_date
    left join testing_days
        on
            district_days_reported.district_id = testing_days.district_id
            and district_days_reported.report_date = testing_days.report_date
    left join isolation_days
        on
            district_days_reported.district_id = isolation_days.district_id
            and district_days_reported.report_date = isolation_days.report_date

)

select * from final
