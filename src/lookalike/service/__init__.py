"""Use cases: what the system does, independent of how it is reached (CLI, worker, HTTP)."""
