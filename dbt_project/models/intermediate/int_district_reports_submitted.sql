-- One row per district report (district or city bulletin, report date): the figures of its latest
-- version with when its first version was submitted, by which timeliness is judged (a revision sent
-- after the deadline does not make an on-time report late).

with

daily_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

report_submissions as (

    select * from {{ ref('stg_districts__report_submissions') }}

),

final as (

    select
        daily_reports.*,
        report_submissions.first_submitted_at
    from daily_reports
    inner join report_submissions
        on
            daily_reports.district_id = report_submissions.district_id
            and daily_reports.report_date = report_submissions.report_date

)

select * from final
