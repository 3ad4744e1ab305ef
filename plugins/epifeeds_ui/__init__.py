"""The feed-health view in the Airflow UI: an Airflow 3 plugin (FastAPI app + navigation entry).

- `queries`: every read of the warehouse (landing, dq) the view makes, as plain dicts.
- `charts`: server-rendered SVG (no JavaScript, nothing fetched from elsewhere).
- `pages`: the HTML pages.
- `app`: the FastAPI app, every route behind Airflow's auth manager.
- `plugin`: the AirflowPlugin (fastapi_apps + external_views); `plugins/feed_health_plugin.py` exposes it.
"""
