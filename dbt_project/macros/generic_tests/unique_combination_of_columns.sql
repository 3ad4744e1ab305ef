{#
    The grain test, named, placed and shaped as dbt_utils' (macros/generic_tests/, dispatched to
    default__, the same arguments), since dbt hub packages cannot be installed here: fails for every
    combination of `combination_of_columns` that occurs on more than one row. dbt-project-evaluator
    counts it as a primary-key test (`primary_key_test_macros` in dbt_project.yml).
#}
{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
    {{ return(adapter.dispatch('test_unique_combination_of_columns', 'epifeeds')(
        model, combination_of_columns, quote_columns
    )) }}
{% endtest %}

{% macro default__test_unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}

{%- if quote_columns -%}
    {%- set key_list = combination_of_columns | map('tojson') | join(', ') -%}
{%- else -%}
    {%- set key_list = combination_of_columns | join(', ') -%}
{%- endif %}

with

key_counts as (

    select
        {{ key_list }},
        count(*) as row_count
    from {{ model }}
    group by {{ key_list }}

),

duplicates as (

    select
        {{ key_list }},
        row_count
    from key_counts
    where row_count > 1

)

select * from duplicates

{% endmacro %}
