-- One row per district per report date, for the ten districts (the city bulletin is not a district
-- report), with the latest version of its figures and a consistency flag for the positives.

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

district_reports as (

    select
        daily_reports.district_id,
        daily_reports.report_date,
        reporting_districts.district_name,
        reporting_districts.district_name_en,
        daily_reports.district_name_reported,
        daily_reports.new_positives,
        daily_reports.new_confirmed,
        daily_reports.new_asymptomatic,
        daily_reports.cumulative_confirmed,
        daily_reports.cumulative_positives,
        daily_reports.sealed_zones,
        daily_reports.controlled_zones,
        daily_reports.precaution_zones,
        daily_reports.close_contacts_identified,
        daily_reports.transferred_to_isolation,
        daily_reports.home_isolation,
        daily_reports.samples_collected,
        daily_reports.grid_workers_on_duty,
        daily_reports.volunteers,
        daily_reports.submitted_at,
        daily_reports.report_version,
        daily_reports.batch_id,
        daily_reports.loaded_at
    from daily_reports
    inner join reporting_districts
        on daily_reports.district_id = reporting_districts.district_id

),

final as (

    select
        district_id,
        report_date,
        district_name,
        district_name_en,
        district_name_reported,
        new_positives,
        new_confirmed,
        new_asymptomatic,
        cumulative_confirmed,
        cumulative_positives,
        sealed_zones,
        controlled_zones,
        precaution_zones,
        close_contacts_identified,
        transferred_to_isolation,
        home_isolation,
        samples_collected,
        grid_workers_on_duty,
        volunteers,
        coalesce(
            new_positives = new_confirmed + new_asymptomatic, false
        ) as is_positives_consistent,
        report_version > 1 as is_revised,
        report_version,
        submitted_at,
        batch_id,
        loaded_at
    from district_reports

)

select * from final
