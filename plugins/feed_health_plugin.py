"""What Airflow's plugin loader finds in the plugins folder: the feed-health view (package `epifeeds_ui`)."""

from epifeeds_ui.plugin import FeedHealthPlugin

__all__ = ["FeedHealthPlugin"]
