"""Monitor: the prediction store (what the servers predicted, queried with DuckDB) and drift."""
