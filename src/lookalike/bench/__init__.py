"""Benchmarks that need more than the engine (the web app under load)."""
