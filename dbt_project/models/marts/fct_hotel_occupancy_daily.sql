-- One row per isolation hotel per report date with a report: rooms, occupancy, guests and their flow
-- (latest version of the hotel's report), the check-ins broken down by source district added up, and
-- the flow identity I3: guests(d) = guests(d-1) + check-ins(d) - check-outs(d).

with

daily_reports as (

    select * from {{ ref('stg_isolation_hotels__daily_reports') }}

),

check_ins as (

    select * from {{ ref('stg_isolation_hotels__check_ins') }}

),

check_ins_by_hotel as (

    select
        hotel_id,
        report_date,
        sum(check_ins) as source_district_check_ins
    from check_ins
    group by hotel_id, report_date

),

reports_with_previous_day as (

    select
        daily_reports.hotel_id,
        daily_reports.report_date,
        daily_reports.district_id,
        daily_reports.rooms_total,
        daily_reports.rooms_occupied,
        daily_reports.guests,
        daily_reports.check_ins,
        daily_reports.check_outs,
        daily_reports.staff,
        daily_reports.submitted_at,
        daily_reports.report_version,
        daily_reports.batch_id,
        daily_reports.loaded_at,
        check_ins_by_hotel.source_district_check_ins,
        -- the day before exactly: after a day without a report there is nothing to compare with
        previous_day.guests as guests_previous_day
    from daily_reports
    left join check_ins_by_hotel
        on
            daily_reports.hotel_id = check_ins_by_hotel.hotel_id
            and daily_reports.report_date = check_ins_by_hotel.report_date
    left join daily_reports as previous_day
        on
            daily_reports.hotel_id = previous_day.hotel_id
            and daily_reports.report_date - 1 = previous_day.report_date

),

final as (

    select
        hotel_id,
        report_date,
        district_id,
        rooms_total,
        rooms_occupied,
        -- a hotel reporting more rooms occupied than it has (V2) has no free rooms, not minus some
        greatest(rooms_total - rooms_occupied, 0) as rooms_free,
        round(cast(rooms_occupied as numeric) / nullif(rooms_total, 0), 4) as occupancy_rate,
        rooms_occupied <= rooms_total as is_occupancy_within_rooms,
        guests,
        check_ins,
        check_outs,
        source_district_check_ins,
        guests_previous_day,
        case
            when guests_previous_day is not null
                then guests = guests_previous_day + check_ins - check_outs
        end as is_flow_consistent,
        staff,
        report_version > 1 as is_revised,
        report_version,
        submitted_at,
        batch_id,
        loaded_at
    from reports_with_previous_day

)

select * from final
