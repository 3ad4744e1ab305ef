{#
    on-run-end: every dbt data test's outcome goes to dq.check_results, the platform's one history of
    checks (beside GX and the platform's own rules). The rule comes from the test's `meta.rule` where
    set, else `dbt`; the feed is the model or source the test is attached to. Skipped when the dq
    schema does not exist yet (a build before any ingest).
#}
{% macro sql_text(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro store_test_results(results) -%}
    {%- set tests = results | selectattr("node.resource_type", "equalto", "test") | list -%}
    {%- if execute and tests -%}
        {%- set rows = [] -%}
        {%- for result in tests -%}
            {%- set node = result.node -%}
            {%- set status = "pass" if result.status == "pass" else ("fail" if result.status in ("fail", "error", "warn") else none) -%}
            {%- if status -%}
                {%- set severity = "info" if status == "pass" else ("warn" if result.status == "warn" else "error") -%}
                {%- set attached = node.attached_node or (node.depends_on.nodes | first) or "" -%}
                {%- set rule = (node.config.meta or {}).get("rule", "dbt") -%}
                {%- do rows.append(
                    "(" ~ sql_text(node.name) ~ ", " ~ sql_text(rule) ~ ", "
                    ~ sql_text(attached.split(".")[-1]) ~ ", "
                    ~ sql_text(tojson({"failures": result.failures, "message": result.message})) ~ "::jsonb, "
                    ~ "'{\"failures\": 0}'::jsonb, " ~ sql_text(severity) ~ ", " ~ sql_text(status)
                    ~ ", " ~ sql_text(invocation_id) ~ ")"
                ) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if rows -%}
            {%- set insert -%}
                do $store$
                begin
                    if to_regclass('dq.check_results') is not null then
                        insert into dq.check_results
                            (check_name, rule, feed, observed, expected, severity, status, run_id)
                        values {{ rows | join(", ") }};
                    end if;
                end
                $store$
            {%- endset -%}
            {%- do run_query(insert) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
