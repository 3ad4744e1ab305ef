-- One row per district per report date it is expected to report, inside the window its city's hotel
-- feed has delivered (first to last hotel report date landed): isolation hotels requisitioned in the
-- district against those that reported, their rooms, occupancy and guests, and rule R3 side by side:
-- the close contacts the district transferred to centralised isolation on d against the check-ins
-- from that district, across every hotel of the city, on d and d+1. The figures are
-- int_district_isolation_daily's, which the district summary reads too.

with

district_days as (

    select * from {{ ref('int_district_isolation_daily') }}

),

final as (

    select
        district_id,
        report_date,
        city_id,
        district_name,
        hotels_active,
        hotels_reporting,
        is_hotels_complete,
        rooms_total,
        rooms_occupied,
        rooms_free,
        occupancy_rate,
        guests,
        guest_capacity,
        hotel_check_ins,
        hotel_check_outs,
        transferred_to_isolation,
        check_ins_from_district,
        check_ins_from_district_next_day,
        transfers_not_checked_in,
        is_isolation_reconciled
    from district_days

)

select * from final
