-- Rule R3 per district and report date it is expected to report, inside the window its city's hotel
-- feed has delivered (the spine int_district_feed_days, with the hotels requisitioned in the district
-- and their guest capacity): those hotels against the ones that reported, their rooms, occupancy and
-- guests, and the close contacts the district transferred to centralised isolation on d against the
-- check-ins from that district, across every hotel of the city, on d and d+1. mart_isolation_capacity
-- presents it; mart_district_daily_summary carries it beside the district's report.

with

district_days as (

    select * from {{ ref('int_district_feed_days') }}
    where feed = 'isolation_hotels'

),

hotel_reports as (

    select * from {{ ref('stg_isolation_hotels__daily_reports') }}

),

check_ins as (

    select * from {{ ref('stg_isolation_hotels__check_ins') }}

),

district_reports as (

    select * from {{ ref('stg_districts__daily_reports') }}

),

hotel_totals as (

    select
        district_id,
        report_date,
        count(*) as hotels_reporting,
        sum(rooms_total) as rooms_total,
        sum(rooms_occupied) as rooms_occupied,
        -- a hotel reporting more rooms occupied than it has (V2) has no free rooms, not minus some
        sum(greatest(rooms_total - rooms_occupied, 0)) as rooms_free,
        sum(guests) as guests,
        sum(check_ins) as check_ins,
        sum(check_outs) as check_outs
    from hotel_reports
    group by district_id, report_date

),

check_ins_by_source_district as (

    select
        source_district_id as district_id,
        report_date,
        sum(check_ins) as check_ins
    from check_ins
    group by source_district_id, report_date

),

district_days_measured as (

    select
        district_days.district_id,
        district_days.report_date,
        district_days.city_id,
        district_days.district_name,
        district_days.registry_entries_active as hotels_active,
        coalesce(hotel_totals.hotels_reporting, 0) as hotels_reporting,
        coalesce(hotel_totals.rooms_total, 0) as rooms_total,
        coalesce(hotel_totals.rooms_occupied, 0) as rooms_occupied,
        coalesce(hotel_totals.rooms_free, 0) as rooms_free,
        coalesce(hotel_totals.guests, 0) as guests,
        district_days.guest_capacity,
        coalesce(hotel_totals.check_ins, 0) as hotel_check_ins,
        coalesce(hotel_totals.check_outs, 0) as hotel_check_outs,
        district_reports.transferred_to_isolation,
        coalesce(same_day.check_ins, 0) as check_ins_from_district,
        case
            when district_days.has_next_day_reports then coalesce(next_day.check_ins, 0)
        end as check_ins_from_district_next_day
    from district_days
    left join hotel_totals
        on
            district_days.district_id = hotel_totals.district_id
            and district_days.report_date = hotel_totals.report_date
    left join district_reports
        on
            district_days.district_id = district_reports.district_id
            and district_days.report_date = district_reports.report_date
    left join check_ins_by_source_district as same_day
        on
            district_days.district_id = same_day.district_id
            and district_days.report_date = same_day.report_date
    left join check_ins_by_source_district as next_day
        on
            district_days.district_id = next_day.district_id
            and district_days.report_date + 1 = next_day.report_date

),

final as (

    select
        district_days_measured.district_id,
        district_days_measured.report_date,
        district_days_measured.city_id,
        district_days_measured.district_name,
        district_days_measured.hotels_active,
        district_days_measured.hotels_reporting,
        district_days_measured.hotels_reporting >= district_days_measured.hotels_active
            as is_hotels_complete,
        district_days_measured.rooms_total,
        district_days_measured.rooms_occupied,
        district_days_measured.rooms_free,
        round(
            cast(district_days_measured.rooms_occupied as numeric)
            / nullif(district_days_measured.rooms_total, 0),
            4
        ) as occupancy_rate,
        district_days_measured.guests,
        district_days_measured.guest_capacity,
        district_days_measured.hotel_check_ins,
        district_days_measured.hotel_check_outs,
        district_days_measured.transferred_to_isolation,
        district_days_measured.check_ins_from_district,
        district_days_measured.check_ins_from_district_next_day,
        -- R3: everyone transferred on d checks in on d or d+1, so the check-ins from the district on
        -- d and d+1 cover its transfers on d (d's check-ins also hold people transferred on d-1, so
        -- more is normal); null until the district reported and the hotels' d+1 has landed
        case
            when
                district_days_measured.transferred_to_isolation is not null
                and district_days_measured.check_ins_from_district_next_day is not null
                then
                    greatest(
                        district_days_measured.transferred_to_isolation
                        - district_days_measured.check_ins_from_district
                        - district_days_measured.check_ins_from_district_next_day,
                        0
                    )
        end as transfers_not_checked_in,
        case
            when
                district_days_measured.transferred_to_isolation is not null
                and district_days_measured.check_ins_from_district_next_day is not null
                then
                    district_days_measured.check_ins_from_district
                    + district_days_measured.check_ins_from_district_next_day
                    >= district_days_measured.transferred_to_isolation
        end as is_isolation_reconciled
    from district_days_measured

)

select * from final
