{#
    Snapshot times as timestamptz, like every `*_at` in the warehouse. dbt-postgres casts its snapshot
    time to a naive `timestamp`, which disagrees with our snapshots' `updated_at` (`loaded_at`,
    timestamptz) and makes every snapshot warn "Data type of snapshot table timestamp columns
    (DATETIME) doesn't match derived column 'updated_at' (DATETIMETZ)". dbt writes this time only into
    `dbt_valid_to` when it closes a hard-deleted entry (`hard_deletes: invalidate`): as a timestamptz
    it is the same kind of instant as the `dbt_valid_from` next to it.
#}
{% macro postgres__snapshot_get_time() -%}
    {{ current_timestamp() }}
{%- endmacro %}
