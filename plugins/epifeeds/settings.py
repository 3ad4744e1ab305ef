"""Settings from the environment (EPIFEEDS_*), parsed and validated by pydantic-settings; everything else
derives from them. A bad value fails at start with the variable's name (`SettingsError`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
REPORT_TIMEZONE = "Asia/Shanghai"

# Airflow connection ids: the DAGs read these, the CLI and docker-compose provide them.
WAREHOUSE_CONN_ID = "epifeeds_warehouse"
DISTRICT_API_CONN_ID = "epifeeds_district_api"


def pg_dsn(host: str, port: str | int, user: str, password: str, dbname: str) -> str:
    """The one way a Postgres DSN is written here (settings, the Airflow connection): a libpq URL with the
    credentials URL-encoded."""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"postgresql://{auth}@{host}:{port}/{dbname}"


def sqlalchemy_url(dsn: str) -> str:
    """The same DSN as SQLAlchemy (Airflow's metadata database) takes it: with its driver named."""
    return "postgresql+psycopg2://" + dsn.split("://", 1)[1]


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_host: str
    pg_port: str
    pg_user: str
    pg_password: str
    warehouse_db: str
    airflow_db: str
    warehouse_dsn: str
    airflow_dsn: str
    archive_url: str
    district_api_url: str
    district_api_token: str
    alert_webhook_url: str
    ingest_lookback_days: int  # days before a run's report date that the district API pull re-reads
    file_drop_url: str
    registry_url: str
    file_drop_lookback_days: int
    task_timeout_minutes: float  # every DAG task's execution_timeout (dag_defaults)

    @property
    def admin_dsn(self) -> str:
        """The maintenance database, for creating and dropping the platform's databases."""
        return pg_dsn(self.pg_host, self.pg_port, self.pg_user, self.pg_password, "postgres")

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME") or self.home / ".airflow")


class SettingsError(ValueError):
    """A setting in the environment has a value the platform cannot use (raised at start)."""


class _Environment(BaseSettings):
    """Every EPIFEEDS_* setting, parsed and validated once: a bad value fails here, named."""

    model_config = SettingsConfigDict(env_prefix="EPIFEEDS_", extra="ignore")

    home: Path = PROJECT_ROOT
    pg_host: str = "127.0.0.1"
    pg_port: int = Field(5432, ge=1, le=65535)
    pg_user: str = "postgres"
    pg_password: str = ""
    warehouse_db: str = "warehouse"
    airflow_db: str = "airflow"
    warehouse_dsn: str = ""
    airflow_dsn: str = ""
    archive_url: str = ""
    district_api_url: str = "http://127.0.0.1:8765"
    district_api_token: str = "demo-token"
    alert_webhook_url: str = ""
    ingest_lookback_days: int = Field(2, ge=0, le=60)
    file_drop_url: str = ""
    registry_url: str = ""
    file_drop_lookback_days: int = Field(3, ge=0, le=60)
    task_timeout_minutes: float = Field(30, gt=0)
    # Read by their own modules; validated here so that a bad value fails at start, not mid-run.
    alert_suppression_minutes: int = Field(360, ge=0)
    revision_threshold_pct: float = Field(1, ge=0)
    low_volume_pct: float = Field(50, ge=0, le=100)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_default(cls, value: object, info: ValidationInfo) -> object:
        # An exported but empty variable (FOO=) means "use the default", as it always has here.
        if value == "" and info.field_name in cls.model_fields:
            default = cls.model_fields[info.field_name].default
            return default
        return value


def _environment() -> _Environment:
    try:
        return _Environment()
    except ValidationError as problem:
        details = "; ".join(
            f"EPIFEEDS_{'_'.join(str(part) for part in error['loc']).upper()}={error.get('input')!r}: "
            f"{error['msg']}"
            for error in problem.errors()
        )
        raise SettingsError(f"invalid setting: {details}") from None


def load_settings() -> Settings:
    env = _environment()
    home = env.home
    port = str(env.pg_port)
    file_drop = env.file_drop_url or str(home / "var" / "file_drop")

    def dsn(dbname: str) -> str:
        return pg_dsn(env.pg_host, port, env.pg_user, env.pg_password, dbname)

    return Settings(
        home=home,
        pg_host=env.pg_host,
        pg_port=port,
        pg_user=env.pg_user,
        pg_password=env.pg_password,
        warehouse_db=env.warehouse_db,
        airflow_db=env.airflow_db,
        warehouse_dsn=env.warehouse_dsn or dsn(env.warehouse_db),
        airflow_dsn=env.airflow_dsn or dsn(env.airflow_db),
        archive_url=env.archive_url or str(home / "var" / "archive"),
        district_api_url=env.district_api_url,
        district_api_token=env.district_api_token,
        alert_webhook_url=env.alert_webhook_url,
        ingest_lookback_days=env.ingest_lookback_days,
        file_drop_url=file_drop,
        # The registries sit next to the file drop unless placed elsewhere (the simulator's layout).
        registry_url=env.registry_url or file_drop.rstrip("/").rsplit("/", 1)[0] + "/registries",
        file_drop_lookback_days=env.file_drop_lookback_days,
        task_timeout_minutes=env.task_timeout_minutes,
    )
