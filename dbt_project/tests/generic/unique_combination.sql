{% test unique_combination(model, combination_of_columns) %}

{%- set key_columns = combination_of_columns | join(', ') %}

with

key_counts as (

    select
        {{ key_columns }},
        count(*) as row_count
    from {{ model }}
    group by {{ key_columns }}

),

duplicates as (

    select
        {{ key_columns }},
        row_count
    from key_counts
    where row_count > 1

)

select * from duplicates

{% endtest %}
