{#
    Grants USAGE on a model's schema to a role, for a post-hook: dbt's `grants` config covers the
    table, not its schema, and the schema is recreated when the warehouse is reset. Only grants when
    the role lacks it, and tolerates another thread granting it at the same instant (Postgres reports
    that as "tuple concurrently updated"), since the marts build in parallel.
#}
{% macro grant_schema_usage(schema_name, role) -%}
do $grant$
begin
    if not has_schema_privilege('{{ role }}', '{{ schema_name }}', 'usage') then
        grant usage on schema {{ adapter.quote(schema_name) }} to {{ adapter.quote(role) }};
    end if;
exception
    when internal_error then
        -- a concurrent session granted the same privilege first
        null;
end
$grant$
{%- endmacro %}
