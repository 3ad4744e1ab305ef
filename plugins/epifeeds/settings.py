"""Settings from the environment (EPIFEEDS_*), read once; everything else derives from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
REPORT_TIMEZONE = "Asia/Shanghai"

# Airflow connection ids: the DAGs read these, the CLI and docker-compose provide them.
WAREHOUSE_CONN_ID = "epifeeds_warehouse"
DISTRICT_API_CONN_ID = "epifeeds_district_api"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _pg_dsn(host: str, port: str, user: str, password: str, dbname: str) -> str:
    auth = quote(user) + (":" + quote(password) if password else "")
    return f"postgresql://{auth}@{host}:{port}/{dbname}"


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

    @property
    def admin_dsn(self) -> str:
        """The maintenance database, for creating and dropping the platform's databases."""
        return _pg_dsn(self.pg_host, self.pg_port, self.pg_user, self.pg_password, "postgres")

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME") or self.home / ".airflow")


def load_settings() -> Settings:
    home = Path(_env("EPIFEEDS_HOME", str(PROJECT_ROOT)))
    host = _env("EPIFEEDS_PG_HOST", "127.0.0.1")
    port = _env("EPIFEEDS_PG_PORT", "5432")
    user = _env("EPIFEEDS_PG_USER", "postgres")
    password = os.environ.get("EPIFEEDS_PG_PASSWORD", "")
    warehouse_db = _env("EPIFEEDS_WAREHOUSE_DB", "warehouse")
    airflow_db = _env("EPIFEEDS_AIRFLOW_DB", "airflow")
    file_drop = _env("EPIFEEDS_FILE_DROP_URL", str(home / "var" / "file_drop"))
    return Settings(
        home=home,
        pg_host=host,
        pg_port=port,
        pg_user=user,
        pg_password=password,
        warehouse_db=warehouse_db,
        airflow_db=airflow_db,
        warehouse_dsn=_env("EPIFEEDS_WAREHOUSE_DSN", _pg_dsn(host, port, user, password, warehouse_db)),
        airflow_dsn=_env("EPIFEEDS_AIRFLOW_DSN", _pg_dsn(host, port, user, password, airflow_db)),
        archive_url=_env("EPIFEEDS_ARCHIVE_URL", str(home / "var" / "archive")),
        district_api_url=_env("EPIFEEDS_DISTRICT_API_URL", "http://127.0.0.1:8765"),
        district_api_token=_env("EPIFEEDS_DISTRICT_API_TOKEN", "demo-token"),
        alert_webhook_url=_env("EPIFEEDS_ALERT_WEBHOOK_URL", ""),
        ingest_lookback_days=int(_env("EPIFEEDS_INGEST_LOOKBACK_DAYS", "2")),
        file_drop_url=file_drop,
        # The registries sit next to the file drop unless placed elsewhere (the simulator's layout).
        registry_url=_env("EPIFEEDS_REGISTRY_URL", file_drop.rstrip("/").rsplit("/", 1)[0] + "/registries"),
        file_drop_lookback_days=int(_env("EPIFEEDS_FILE_DROP_LOOKBACK_DAYS", "3")),
    )
