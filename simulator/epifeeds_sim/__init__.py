"""The agency feed simulator: seeded generator, fault injection with a ground truth, HTTP server."""
