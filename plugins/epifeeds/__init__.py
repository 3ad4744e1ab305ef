"""epifeeds: the epidemic-response feed platform (ingest, warehouse, data quality, alerts)."""
