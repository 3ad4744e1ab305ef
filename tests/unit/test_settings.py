"""Settings are parsed and validated once: a bad value fails at start, naming its variable."""

from __future__ import annotations

import pytest

from epifeeds.cli import main
from epifeeds.settings import SettingsError, load_settings

pytestmark = pytest.mark.unit


def test_defaults_derive_the_dsns_and_the_registry_folder(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("EPIFEEDS_WAREHOUSE_DSN", "EPIFEEDS_REGISTRY_URL", "EPIFEEDS_PG_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EPIFEEDS_PG_HOST", "db.internal")
    monkeypatch.setenv("EPIFEEDS_PG_USER", "etl")
    monkeypatch.setenv("EPIFEEDS_PG_PORT", "6543")
    monkeypatch.setenv("EPIFEEDS_FILE_DROP_URL", "s3://drops/epifeeds/file_drop")
    settings = load_settings()
    assert settings.warehouse_dsn == "postgresql://etl@db.internal:6543/warehouse"
    assert settings.registry_url == "s3://drops/epifeeds/registries"


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPIFEEDS_PG_PORT", "")
    monkeypatch.setenv("EPIFEEDS_INGEST_LOOKBACK_DAYS", "")
    settings = load_settings()
    assert (settings.pg_port, settings.ingest_lookback_days) == ("5432", 2)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("EPIFEEDS_PG_PORT", "54a2"),
        ("EPIFEEDS_PG_PORT", "70000"),
        ("EPIFEEDS_INGEST_LOOKBACK_DAYS", "-1"),
        ("EPIFEEDS_FILE_DROP_LOOKBACK_DAYS", "three"),
        ("EPIFEEDS_LOW_VOLUME_PCT", "150"),
        ("EPIFEEDS_ALERT_SUPPRESSION_MINUTES", "6h"),
        ("EPIFEEDS_TASK_TIMEOUT_MINUTES", "0"),
    ],
)
def test_a_bad_value_fails_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"{variable}='{value}'"):
        load_settings()


def test_the_command_reports_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EPIFEEDS_PG_PORT", "not-a-port")
    assert main(["status"]) == 2
    out = capsys.readouterr().out
    assert "EPIFEEDS_PG_PORT='not-a-port'" in out
    assert "Traceback" not in out


def test_the_dbt_environment_and_the_airflow_connection_name_the_same_warehouse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from epifeeds.orchestration import airflow_environment
    from epifeeds.warehouse import dbt_env

    # A warehouse elsewhere than the EPIFEEDS_PG_* parts, with a password that needs URL-encoding.
    monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DSN", "postgresql://etl:test-p%40ss%2Fw@db.internal:6543/wh_other")
    settings = load_settings()
    env = airflow_environment(settings)

    assert (
        env["AIRFLOW_CONN_EPIFEEDS_WAREHOUSE"] == "postgresql://etl:test-p%40ss%2Fw@db.internal:6543/wh_other"
    )
    dbt_target = [
        env[f"EPIFEEDS_{n}"] for n in ("PG_HOST", "PG_PORT", "PG_USER", "PG_PASSWORD", "WAREHOUSE_DB")
    ]
    assert dbt_target == ["db.internal", "6543", "etl", "test-p@ss/w", "wh_other"]
    assert dbt_env(settings).items() <= env.items()


def test_a_dsn_is_written_one_way_and_reads_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from epifeeds.settings import pg_dsn, sqlalchemy_url

    dsn = pg_dsn("db.internal", 6543, "etl@corp", "test-p@:/w", "warehouse")
    assert conninfo_to_dict(dsn) == {
        "host": "db.internal",
        "port": "6543",
        "user": "etl@corp",
        "password": "test-p@:/w",
        "dbname": "warehouse",
    }
    assert (
        sqlalchemy_url(dsn) == "postgresql+psycopg2://etl%40corp:test-p%40%3A%2Fw@db.internal:6543/warehouse"
    )


def test_the_dag_tasks_and_the_dbt_task_read_the_warehouse_connection_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from epifeeds.dbt_operator import _warehouse_environment
    from epifeeds.tasks import warehouse_dsn

    monkeypatch.setenv(
        "AIRFLOW_CONN_EPIFEEDS_WAREHOUSE", "postgresql://etl:test-p%40ss%2Fw@db.internal:6543/wh_other"
    )
    env, dsn = _warehouse_environment("epifeeds_warehouse")

    assert dsn == warehouse_dsn() == "postgresql://etl:test-p%40ss%2Fw@db.internal:6543/wh_other"
    dbt_target = [
        env[f"EPIFEEDS_{n}"] for n in ("PG_HOST", "PG_PORT", "PG_USER", "PG_PASSWORD", "WAREHOUSE_DB")
    ]
    assert dbt_target == ["db.internal", "6543", "etl", "test-p@ss/w", "wh_other"]
