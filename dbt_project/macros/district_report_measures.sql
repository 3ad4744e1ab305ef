{#
    The count measures of a district daily report, in the feed contract's order (DISTRICT_REPORTS in
    plugins/epifeeds/feeds/contracts.py; tests/integration/test_warehouse_marts.py checks that
    fct_city_daily compares every one of them). Rule R1 compares each between a city and its districts.
#}
{% macro district_report_measures() -%}
    {{ return([
        'new_positives',
        'new_confirmed',
        'new_asymptomatic',
        'cumulative_confirmed',
        'cumulative_positives',
        'sealed_zones',
        'controlled_zones',
        'precaution_zones',
        'close_contacts_identified',
        'transferred_to_isolation',
        'home_isolation',
        'samples_collected',
        'grid_workers_on_duty',
        'volunteers',
    ]) }}
{%- endmacro %}
