{% test non_negative(model, column_name) %}

with

negatives as (

    select {{ column_name }} as negative_value
    from {{ model }}
    where {{ column_name }} < 0

)

select * from negatives

{% endtest %}
