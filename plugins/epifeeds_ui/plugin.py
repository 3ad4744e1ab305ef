"""The AirflowPlugin: the feed-health app under /epifeeds and its entry in Airflow's navigation."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from epifeeds_ui.app import HOME, URL_PREFIX, app


class FeedHealthPlugin(AirflowPlugin):
    name = "epifeeds_feed_health"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "epifeeds feed health"}]
    # Airflow 3.1+ navigation entry. With a url_route the UI shows the page inside its own frame at
    # /plugin/feed-health; href is relative (no leading slash) so it works behind a path prefix.
    external_views = [
        {
            "name": "Feed health",
            "href": f"{URL_PREFIX.lstrip('/')}{HOME}",
            "destination": "nav",
            "url_route": "feed-health",
            "category": "Browse",
        }
    ]
