"""Every measure a bulletin publishes reaches the marts: the real Beijing bulletin imported, then
`dbt build` of the bulletin models, read as BI reads them (`bi_reader`)."""

from __future__ import annotations

import psycopg
import pytest

from epifeeds.bi_access import bi_reader_dsn, ensure_bi_reader
from epifeeds.feeds.bulletin import import_bulletin
from epifeeds.settings import load_settings
from epifeeds.warehouse import run_dbt
from tests.conftest import BEIJING_CSV, create_database, drop_database

pytestmark = pytest.mark.integration


@pytest.fixture
def built(tmp_path, monkeypatch):
    name = create_database()
    monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DB", name)
    monkeypatch.delenv("EPIFEEDS_WAREHOUSE_DSN", raising=False)
    settings = load_settings()
    try:
        import_bulletin(settings.warehouse_dsn, str(tmp_path / "archive"), BEIJING_CSV)
        ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)
        run_dbt(
            [
                "build",
                "--select",
                "+fct_bulletin_measures",
                "reporting_calendar",
                "--indirect-selection",
                "cautious",
            ],
            settings,
            target_path=tmp_path / "target",
            log_path=tmp_path / "logs",
        )
        yield settings
    finally:
        drop_database(name)


def test_every_published_measure_is_in_the_marts_and_unpublished_ones_are_not_zeros(built):
    with psycopg.connect(bi_reader_dsn(built.warehouse_dsn)) as conn:
        rows, measures, reporters = conn.execute(
            "select count(*), count(distinct measure), count(distinct reporter_id) from marts.fct_bulletin_measures"
        ).fetchone()
        by_measure = dict(
            conn.execute(
                "select measure, sum(measure_value) from marts.fct_bulletin_measures"
                " where reporter_id = '110000' group by 1"
            ).fetchall()
        )
        unpublished = conn.execute(
            "select distinct measure from marts.fct_bulletin_measures where not is_published order by 1"
        ).fetchall()
        chaoyang = conn.execute(
            "select reporter_name, reporter_level, measure_kind, measure_value from marts.fct_bulletin_measures"
            " where reporter_id = '110105' and report_date = '2022-04-26' and measure = 'new_confirmed'"
        ).fetchone()

    assert (rows, measures, reporters) == (33 * 203, 45, 17)
    # From the file by hand: 治愈出院 over the 33 days, and the four all-zero cumulatives (N1) are null.
    assert by_measure["new_recovered"] > 0 and by_measure["cumulative_recovered"] is None
    assert unpublished == [
        ("cumulative_imported_confirmed",),
        ("cumulative_local_confirmed",),
        ("cumulative_local_positives",),
        ("cumulative_recovered",),
    ]
    assert {"new_deaths", "current_critical", "under_observation", "new_positives_closed_loop"} <= set(
        by_measure
    )
    assert chaoyang == ("朝阳区", "district", "daily", 15)
