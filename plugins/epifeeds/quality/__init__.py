"""Data-quality checks: GX validations, roster completeness, and the result store."""
