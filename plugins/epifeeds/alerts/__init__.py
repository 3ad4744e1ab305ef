"""Alerts: findings grouped by root cause, notified once, re-notified after suppression, resolved."""
