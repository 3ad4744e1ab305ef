{#
    The key of a street (街道/镇): district × trimmed street name, since the hotel registry has no street
    codes. Null when the street name is blank. dim_testing_site, dim_isolation_hotel and dim_street
    all use it, so a site and a hotel on the same street meet in dim_street.
#}
{% macro street_key(district_id, street_name) -%}
    md5({{ district_id }} || '|' || nullif(trim({{ street_name }}), ''))
{%- endmacro %}
