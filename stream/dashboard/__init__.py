"""Live dashboard: a web page and a JSON API over the Redis aggregates the workers keep (reads Redis only)."""
