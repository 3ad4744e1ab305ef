"""Raw archive, batch ledger, COPY loader, revision versioning and rejects."""
