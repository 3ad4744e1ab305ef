-- One row per delivery in the landing ledger (an API response or a dropped file), recorded before it
-- was parsed: which feed, reporter and report date it carried, when it arrived and how it landed.
-- The incremental models read it for the report dates delivered since their last build.

with

batches as (

    select * from {{ source('landing', 'batches') }}

),

final as (

    select
        -- keys
        cast(batch_id as bigint) as batch_id,
        feed,
        reporter,
        cast(report_date as date) as report_date,

        -- delivery
        source_uri,
        sha256,
        cast(received_at as timestamptz) as received_at,
        status,

        -- counts
        cast(rows_read as integer) as rows_read,
        cast(rows_landed as integer) as rows_landed,
        cast(rows_rejected as integer) as rows_rejected,
        message

    from batches

)

select * from final
